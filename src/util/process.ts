/**
 * Is the process behind a PID still there? Lock files and the runtime file name their owner by
 * PID; a crashed owner must not hold them forever.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** A process with this PID exists. `EPERM` means it exists but is someone else's; only `ESRCH` proves it gone. */
export function pidExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The process has exited but was not reaped yet (Linux `/proc`; `false` where that cannot be told).
 * Not every container's PID 1 reaps orphans, so a SIGKILLed owner can linger in this state.
 */
export async function isZombie(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may contain spaces and parentheses; the state follows the last ")".
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}

/** A running process: it exists and is not merely unreaped. */
export async function isRunning(pid: number): Promise<boolean> {
  return pidExists(pid) && !(await isZombie(pid));
}

/**
 * The same, synchronously: for lock breaking, where an await between judging a lock stale and
 * breaking it widens the window in which another breaker's fresh lock is mistaken for the stale one.
 */
export function isRunningSync(pid: number): boolean {
  if (!pidExists(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return true;
  }
}
