// The watchdog rule: what counts as progress. Real pollers on drivers that answer, fail or hang; the rule
// itself on hand-made progress snapshots.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Driver } from '../../drivers/types.js';
import type { GatewayProgress } from '../gateway/status.js';
import { Poller } from '../poller.js';
import { scheduleFor } from '../schedule.js';
import { pollSlackMs, stuckReason, watchdogIntervalMs } from './watchdog.js';

const log = pino({ level: 'silent' });
const idleJournal = { commits: 0, waiting: 0, waitingSince: null, dueAt: null, retrying: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const answering: Driver = {
  connect: async () => undefined,
  poll: async () => [{ tag: 'v', value: 1, timestamp: Date.now(), quality: 'good' }],
  close: async () => undefined,
};
const refusing: Driver = {
  connect: async () => {
    throw new Error('connection refused');
  },
  poll: async () => [],
  close: async () => undefined,
};
/**
 * A driver bug: its connect fails, and closing it never settles. (A connect or poll that never settles cannot hang
 * the loop: the edge abandons it at the timeout.)
 */
const hanging: Driver = {
  connect: async () => {
    throw new Error('connection refused');
  },
  poll: async () => [],
  close: () => new Promise<void>(() => undefined),
};

const pollers: Poller[] = [];
afterEach(async () => {
  // stop() waits for the attempt in flight, which on the hanging driver never ends.
  for (const p of pollers.splice(0)) await Promise.race([p.stop(), sleep(500)]);
});

function poller(name: string, driver: Driver): Poller {
  const p = new Poller(name, driver, { schedule: scheduleFor({ kind: 'interval', ms: 50 }), timeoutMs: 100, maxBackoffMs: 200 }, { samples: () => undefined, down: () => undefined }, log);
  pollers.push(p);
  p.start();
  return p;
}

const progressOf = (...ps: Poller[]): GatewayProgress => ({ journal: idleJournal, devices: ps.map((p) => ({ name: p.device, ...p.progress() })) });

describe('watchdog rule', () => {
  it('a device that answers and one that refuses every connect both stay on schedule for as long as they run', async () => {
    const ok = poller('ok', answering);
    const dead = poller('dead', refusing);
    for (let i = 0; i < 30; i++) {
      await sleep(50);
      const now = Date.now();
      // Not even the slack is needed: their deadlines stay ahead of the clock.
      for (const d of progressOf(ok, dead).devices) expect(d.deadline!).toBeGreaterThanOrEqual(now);
      expect(stuckReason(progressOf(ok, dead), now, 1000)).toBeUndefined();
    }
    expect(ok.progress().attempts).toBeGreaterThan(10);
    expect(dead.progress().attempts).toBeGreaterThan(3); // backoff, but attempts go on
    expect(dead.status().state).toBe('down');
  });

  it('a poll loop that hangs past its deadline is stuck, named, while the others are not', async () => {
    const ok = poller('ok', answering);
    const stuck = poller('stuck-plc', hanging);
    await sleep(300); // past 2 × timeout: the hanging attempt should have been over
    const attempts = stuck.progress().attempts;
    const deadline = stuck.progress().deadline!;
    expect(attempts).toBe(0); // the attempt never ends: it hangs in the driver's close
    expect(deadline).toBeLessThan(Date.now());
    const interval = 1000;
    // Within the slack it is not yet called stuck; past it, it is, and only it.
    expect(stuckReason(progressOf(ok, stuck), deadline + pollSlackMs(interval), interval)).toBeUndefined();
    const reason = stuckReason(progressOf(ok, stuck), deadline + pollSlackMs(interval) + 100, interval);
    expect(reason).toMatch(/^the poll loop of device "stuck-plc" is 5\.1 s past its deadline$/);
  });

  it('a stopped poller has no deadline', async () => {
    const p = poller('p', answering);
    await sleep(20);
    await p.stop();
    expect(p.progress().deadline).toBeNull();
    expect(stuckReason(progressOf(p), Date.now() + 3_600_000, 1000)).toBeUndefined();
  });

  it('the journal: idle is fine, a commit overdue by more than one interval is stuck, unless a known write failure is retried', () => {
    const now = 1_000_000;
    const at = (waitingSince: number | null, waiting = 3, retrying = false, commitIntervalMs = 0): GatewayProgress => ({ journal: { commits: 7, waiting, waitingSince, dueAt: waitingSince === null ? null : waitingSince + commitIntervalMs, retrying }, devices: [] });
    expect(stuckReason(at(null, 0), now, 1000)).toBeUndefined();
    expect(stuckReason(at(now - 999), now, 1000)).toBeUndefined();
    expect(stuckReason(at(now - 1500), now, 1000)).toBe('the journal has committed nothing for 1.5 s (3 messages wait)');
    // Messages waiting out a long commit interval are not stuck; past it by more than an interval, they are.
    expect(stuckReason(at(now - 30_000, 3, false, 60_000), now, 1000)).toBeUndefined();
    expect(stuckReason(at(now - 61_500, 3, false, 60_000), now, 1000)).toBe('the journal has committed nothing for 61.5 s (3 messages wait)');
    // A known write failure (disk full) that the journal retries is reported elsewhere, not cured by a restart.
    expect(stuckReason(at(now - 60_000, 3, true), now, 1000)).toBeUndefined();
  });

  it('reads WATCHDOG_USEC (feeding at half of it) and WATCHDOG_PID', () => {
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined(); // meant for another process
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
  });
});
