import { describe, expect, it } from 'vitest';
import { isExpired, needsRefresh, refreshMargin } from '../../../src/broker/refresh-policy.js';

const MIN = 60_000;

describe('refreshMargin: min(5 minutes, 25% of the lifetime)', () => {
  it.each([
    [60 * MIN, 5 * MIN],
    [20 * MIN, 5 * MIN],
    [19 * MIN, 4.75 * MIN],
    [10 * MIN, 2.5 * MIN],
    [30_000, 7_500],
    [0, 0],
    [-5_000, 0],
  ])('lifetime %d ms → %d ms', (lifetime, margin) => {
    expect(refreshMargin(lifetime)).toBe(margin);
  });
});

describe('needsRefresh', () => {
  const obtainedAt = 1_000_000;
  const hour = { obtainedAt, expiresAt: obtainedAt + 60 * MIN };
  const short = { obtainedAt, expiresAt: obtainedAt + 60_000 };

  it('an hour-long token: fresh until 5 minutes before expiry', () => {
    expect(needsRefresh(hour, obtainedAt)).toBe(false);
    expect(needsRefresh(hour, hour.expiresAt - 5 * MIN - 1)).toBe(false);
    expect(needsRefresh(hour, hour.expiresAt - 5 * MIN)).toBe(true);
    expect(needsRefresh(hour, hour.expiresAt + 1)).toBe(true);
  });

  it('a one-minute token: fresh until 15 s before expiry (25%)', () => {
    expect(needsRefresh(short, short.expiresAt - 15_001)).toBe(false);
    expect(needsRefresh(short, short.expiresAt - 15_000)).toBe(true);
  });

  it('a token without a known expiry is never refreshed proactively', () => {
    expect(needsRefresh({ obtainedAt }, obtainedAt + 365 * 24 * 60 * MIN)).toBe(false);
  });

  it('a clock that jumped far ahead (laptop slept) means refresh', () => {
    expect(needsRefresh(hour, hour.expiresAt + 12 * 60 * MIN)).toBe(true);
  });
});

describe('isExpired', () => {
  it('at and after expiresAt only; never without one', () => {
    expect(isExpired({ expiresAt: 10 }, 9)).toBe(false);
    expect(isExpired({ expiresAt: 10 }, 10)).toBe(true);
    expect(isExpired({}, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe('needsRefresh with a look-ahead (background refresher)', () => {
  const obtainedAt = 1_000_000;
  it('looks ahead by the given time for long-lived tokens', () => {
    const hour = { obtainedAt, expiresAt: obtainedAt + 3600_000 };
    const due = hour.expiresAt - 5 * 60_000;
    expect(needsRefresh(hour, due - 45_001, 45_000)).toBe(false);
    expect(needsRefresh(hour, due - 45_000, 45_000)).toBe(true);
  });

  it('bounds the look-ahead by a quarter of the lifetime, so short tokens are not refreshed on every pass', () => {
    const short = { obtainedAt, expiresAt: obtainedAt + 30_000 };
    // margin 7.5 s + look-ahead 7.5 s (not 45 s): due when 15 s remain.
    expect(needsRefresh(short, obtainedAt + 1_000, 45_000)).toBe(false);
    expect(needsRefresh(short, obtainedAt + 14_999, 45_000)).toBe(false);
    expect(needsRefresh(short, obtainedAt + 15_000, 45_000)).toBe(true);
  });
});
