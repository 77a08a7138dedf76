/**
 * One in-flight operation per key: concurrent callers share the first caller's promise. Inside a
 * process this is what turns a thousand requests for an expiring token into one token request;
 * across processes the store's lock does the same job.
 */
export class SingleFlight<V> {
  private readonly flights = new Map<string, Promise<V>>();

  run(key: string, fn: () => Promise<V>): Promise<V> {
    const running = this.flights.get(key);
    if (running) return running;
    const p = fn().finally(() => {
      if (this.flights.get(key) === p) this.flights.delete(key);
    });
    this.flights.set(key, p);
    return p;
  }

  has(key: string): boolean {
    return this.flights.has(key);
  }

  get size(): number {
    return this.flights.size;
  }
}
