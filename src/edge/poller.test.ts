// The poll loop against in-memory drivers: what is tested here is timing and state logic, not a protocol.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Driver, Sample } from '../drivers/types.js';
import { Poller, type PollerHandlers } from './poller.js';
import { cronSchedule, intervalSchedule } from './schedule.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function memoryLog() {
  const lines: Array<Record<string, any>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** A driver whose every poll runs `behaviour`; records when polls start and how many run at once. */
function fakeDriver(behaviour: (n: number, signal: AbortSignal) => Promise<Sample[]>) {
  const d = { starts: [] as number[], running: 0, maxRunning: 0, connects: 0 };
  const driver: Driver = {
    async connect() {
      d.connects += 1;
    },
    async poll(signal) {
      d.starts.push(Date.now());
      d.running += 1;
      d.maxRunning = Math.max(d.maxRunning, d.running);
      try {
        return await behaviour(d.starts.length, signal);
      } finally {
        d.running -= 1;
      }
    },
    async close() {},
  };
  return { driver, d };
}

const ok = async (): Promise<Sample[]> => [{ tag: 't', value: 1, timestamp: Date.now(), quality: 'good' }];
const never = () => new Promise<Sample[]>(() => undefined); // ignores its abort signal too

const pollers: Poller[] = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

function start(driver: Driver, options: ConstructorParameters<typeof Poller>[2], handlers: Partial<PollerHandlers> = {}) {
  const { log, lines } = memoryLog();
  const events: string[] = [];
  const p = new Poller('dev', driver, options, {
    samples: () => events.push('samples'),
    missed: () => events.push('missed'),
    down: () => events.push('down'),
    ...handlers,
  }, log);
  pollers.push(p);
  p.start();
  return { p, events, lines };
}

describe('interval schedule', () => {
  it('keeps a fixed grid: a late poll does not push the next ones back; an overrun skips whole ticks', () => {
    let t = 1000;
    const s = intervalSchedule(100, () => t);
    expect(s.first()).toBe(0);
    t = 1030; // the poll took 30 ms
    expect(s.next(30)).toEqual({ delayMs: 70, skipped: 0 });
    t = 1110; // the timer fired 10 ms late and the poll took 0: the next one is still at 1200
    expect(s.next(0)).toEqual({ delayMs: 90, skipped: 0 });
    t = 1450; // the poll due at 1200 took 250 ms: 1300 and 1400 are skipped, the next is at 1500
    expect(s.next(250)).toEqual({ delayMs: 50, skipped: 2 });
    t = 1640; // due at 1500, started 120 ms late (a busy machine), took 20 ms: the one due at 1600 runs at once
    expect(s.next(20)).toEqual({ delayMs: 0, skipped: 0 });
    t = 1650; // ... and the grid holds: the next is at 1700
    expect(s.next(10)).toEqual({ delayMs: 50, skipped: 0 });
    t = 1950; // due at 1700, but the machine stalled: more than a period behind, 1800 and 1900 are skipped
    expect(s.next(10)).toEqual({ delayMs: 50, skipped: 2 });
    t = 2000;
    expect(s.retryIn(400)).toBe(400); // a failure: the retry at 2400 becomes the grid
    t = 2400;
    expect(s.next(0)).toEqual({ delayMs: 100, skipped: 0 });
  });
});

describe('poller', () => {
  it('never overlaps polls: a device slower than its interval skips ticks and warns that it cannot keep up', async () => {
    const { driver, d } = fakeDriver(async () => {
      await sleep(250);
      return ok();
    });
    const { p, lines } = start(driver, { schedule: intervalSchedule(100), timeoutMs: 1000 });
    await waitUntil(() => p.status().polls >= 3, 10_000);
    expect(d.maxRunning).toBe(1);
    const s = p.status();
    expect(s.polls).toBeGreaterThanOrEqual(3);
    expect(s.overruns).toBe(s.polls);
    expect(s.skipped).toBeGreaterThanOrEqual(2 * s.polls);
    expect(s.errors).toBe(0);
    // Polls start on the 100 ms grid, every third tick (250 ms of work skips two).
    const gaps = d.starts.slice(1).map((t, i) => t - d.starts[i]!);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(290);
    expect(lines.filter((l) => /cannot keep up/.test(l.msg))).toHaveLength(1); // once, not once per poll
  });

  it('times a poll out even when the driver ignores its signal, and a connect that hangs as well', async () => {
    const { driver, d } = fakeDriver(never);
    const { p, events } = start(driver, { schedule: intervalSchedule(50), timeoutMs: 150, downAfter: 2 });
    await waitUntil(() => p.status().state === 'down', 5000);
    expect(p.status().lastError).toBe('no answer within 150 ms');
    expect(events.slice(0, 2)).toEqual(['missed', 'down']);
    expect(d.starts.length).toBeGreaterThanOrEqual(2);

    const hanging: Driver = { connect: () => new Promise(() => undefined), poll: ok, close: async () => {} };
    const h = start(hanging, { schedule: intervalSchedule(50), timeoutMs: 100 });
    await waitUntil(() => h.p.status().state === 'down', 5000);
    expect(h.p.status()).toMatchObject({ state: 'down', lastError: 'no answer within 100 ms' });
  });

  it('misses polls (stale) before it declares a device down, once per outage; backs off; recovers on its own', async () => {
    let failNext = 0;
    let failing = false;
    const { driver, d } = fakeDriver(async () => {
      if (failing) throw new Error('connection refused');
      if (failNext > 0) {
        failNext -= 1;
        throw new Error('no answer');
      }
      return ok();
    });
    const { p, events, lines } = start(driver, { schedule: intervalSchedule(40), timeoutMs: 500, downAfter: 3 });
    await waitUntil(() => p.status().polls >= 2, 5000);
    failNext = 2; // two misses in a row: stale, not down
    await waitUntil(() => failNext === 0 && p.status().state === 'up', 5000);
    expect(p.status()).toMatchObject({ state: 'up', errors: 2 });
    failing = true;
    const before = d.starts.length;
    // Backoff from the 40 ms period, doubling: waits of at least 20+40+80+160+320+640 ms in 2 s.
    await sleep(2000);
    expect(p.status().state).toBe('down');
    expect(d.starts.length - before).toBeLessThanOrEqual(8);
    failing = false;
    await waitUntil(() => p.status().state === 'up', 6000); // the next retry, at most one backoff step later
    expect(p.status()).toMatchObject({ state: 'up', consecutiveErrors: 0 });
    const compact = events.filter((e, i) => e !== events[i - 1]);
    expect(compact).toEqual(['samples', 'missed', 'samples', 'missed', 'down', 'samples']);
    expect(lines.filter((l) => /is not answering; declared down/.test(l.msg))).toHaveLength(1);
    expect(lines.filter((l) => /missed a poll/.test(l.msg))).toHaveLength(2);
    expect(lines.filter((l) => /answers again/.test(l.msg))).toHaveLength(2);
  });

  it('a fault in the handler of the samples is logged, and counts against neither the device nor its polling', async () => {
    const { driver } = fakeDriver(ok);
    const { p, lines } = start(driver, { schedule: intervalSchedule(30), timeoutMs: 500 }, {
      samples: () => {
        throw new Error('boom');
      },
    });
    await waitUntil(() => p.status().polls > 3, 5000);
    expect(p.status()).toMatchObject({ state: 'up', errors: 0 });
    expect(lines.some((l) => l.level === 50 && l.err === 'boom' && l.handler === 'samples')).toBe(true);
  });
});

describe('cron schedule', () => {
  it('polls once at start, then at every match of a 6-field (seconds) expression', { timeout: 10_000 }, async () => {
    const { driver, d } = fakeDriver(ok);
    const started = Date.now();
    start(driver, { schedule: cronSchedule('*/1 * * * * *'), timeoutMs: 500 });
    await sleep(3600);
    // The read at start, then one per whole second: 3 or 4 more in 3.6 s.
    expect(d.starts[0]! - started).toBeLessThan(200);
    const scheduled = d.starts.slice(1);
    expect(scheduled.length).toBeGreaterThanOrEqual(3);
    expect(scheduled.length).toBeLessThanOrEqual(4);
    // Each on a second boundary (a timer is never early, and on a busy machine a little late).
    for (const t of scheduled) expect(t % 1000).toBeLessThan(300);
    const seconds = scheduled.map((t) => Math.floor(t / 1000));
    expect(new Set(seconds).size).toBe(seconds.length); // never twice in one slot
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]! - seconds[i - 1]!).toBe(1);
  });

  it('applies the timeout to cron polls and retries a failed read with backoff, not once per slot', { timeout: 10_000 }, async () => {
    const { driver, d } = fakeDriver(never);
    const { p, events } = start(driver, { schedule: cronSchedule('*/1 * * * * *'), timeoutMs: 300, downAfter: 1 });
    await sleep(1500);
    expect(p.status()).toMatchObject({ state: 'down', lastError: 'no answer within 300 ms' });
    expect(events[0]).toBe('down');
    // The read at start, then retries after 0.5–1 s and 1–2 s: at most 3 in 1.5 s, where the slots would give 2 more.
    expect(d.starts.length).toBeLessThanOrEqual(3);
  });

  it('skips the slots a slow cron read overran, and warns', { timeout: 10_000 }, async () => {
    const { driver, d } = fakeDriver(async () => {
      await sleep(1500);
      return ok();
    });
    const { p, lines } = start(driver, { schedule: cronSchedule('*/1 * * * * *'), timeoutMs: 3000 });
    await waitUntil(() => p.status().polls >= 3, 8000);
    expect(p.status().skipped).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => /cannot keep up/.test(l.msg) && l.schedule === 'cron "*/1 * * * * *"')).toBe(true);
    expect(d.maxRunning).toBe(1);
  });
});

async function waitUntil(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}
