import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Forwarder } from './forwarder.js';
import { permanentKafkaError } from './kafka/errors.js';
import { Journal } from './journal/journal.js';
import { RECORD_SCHEMA_VERSION } from './record-schema.js';
import type { OutRecord, UplinkSink } from './sink.js';

/** A sink in memory: the forwarder's logic without sockets. */
function memorySink() {
  const received: OutRecord[] = [];
  const state = { down: false, sends: 0, attempts: 0 };
  const sink: UplinkSink = {
    target: 'memory',
    client: 'kafkajs',
    compression: 'none',
    maxInFlight: 1,
    wireBytes: () => 0,
    async connect() {
      state.attempts += 1;
      if (state.down) throw new Error('connection refused');
    },
    async send(records) {
      state.sends += 1;
      if (state.down) throw new Error('connection refused');
      received.push(...records);
    },
    async disconnect() {},
  };
  return { sink, received, state };
}

function logCapture() {
  const lines: Array<{ level: number; msg: string; [field: string]: any }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const value = (i: number) => `{"type":"data","device":"d","timestamp":${i},"historical":false,"metrics":[]}`;

describe('forwarder', () => {
  it('forwards in order, deletes only acknowledged records, flags held-back ones, and logs an outage once', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const { sink, received, state } = memorySink();
    const { log, lines } = logCapture();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 3, minBackoffMs: 5, maxBackoffMs: 20, downAfterMs: 0 }, log);
    fwd.start();
    journal.append([1, 2].map((i) => ({ key: 'g/n/d', type: 'data' as const, value: value(i), capturedAt: i })));
    await until(() => received.length === 2);

    state.down = true;
    journal.append([3, 4, 5, 6, 7].map((i) => ({ key: 'g/n/d', type: 'data' as const, value: value(i), capturedAt: i })));
    await until(() => state.attempts > 8);
    expect(journal.stats().records).toBe(5); // nothing deleted while unacknowledged
    expect(fwd.getStatus().state).toBe('down');

    state.down = false;
    await until(() => received.length === 7);
    await until(() => journal.stats().records === 0);
    await fwd.stop();

    expect(received.map((r) => r.headers['edge.seq'])).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(received.map((r) => r.headers['edge.historical'])).toEqual(['false', 'false', 'true', 'true', 'true', 'true', 'true']);
    expect(received[2]!.value).toContain('"historical":true');
    expect(received[0]!.value).toContain('"historical":false');
    expect(received.every((r) => r.headers['edge.node'] === 'g/n' && r.key === 'g/n/d')).toBe(true);
    // The exact header set: the contract's version in edge.schema on every record, live or held back.
    expect(received[0]!.headers).toEqual({ 'edge.node': 'g/n', 'edge.seq': '1', 'edge.historical': 'false', 'edge.schema': String(RECORD_SCHEMA_VERSION) });
    expect(received[2]!.headers).toEqual({ 'edge.node': 'g/n', 'edge.seq': '3', 'edge.historical': 'true', 'edge.schema': String(RECORD_SCHEMA_VERSION) });
    const outageLines = lines.filter((l) => l.msg.startsWith('Uplink unreachable'));
    expect(outageLines).toHaveLength(1);
    expect(lines.filter((l) => l.msg.startsWith('Uplink is back'))).toHaveLength(1);
    journal.close();
  });

  it('after an outage, says how many records wait, and once the held-back backlog is all acknowledged, how the drain went', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const { sink, received, state } = memorySink();
    const { log, lines } = logCapture();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 3, minBackoffMs: 5, maxBackoffMs: 20, downAfterMs: 0 }, log);
    const add = (from: number, n: number) => journal.append(Array.from({ length: n }, (_, i) => ({ key: 'k', type: 'data' as const, value: value(from + i), capturedAt: from + i })));
    fwd.start();
    add(1, 2);
    await until(() => received.length === 2);
    expect(lines.filter((l) => l.msg.startsWith('Uplink connected'))).toEqual([expect.objectContaining({ msg: 'Uplink connected; nothing waits in the journal.', backlog: 0 })]);

    state.down = true;
    add(3, 7); // seqs 3..9: the backlog
    await until(() => fwd.getStatus().state === 'down' && state.attempts > 4);
    state.down = false;
    await until(() => fwd.getStatus().state === 'up');
    add(10, 2); // live, not backlog
    await until(() => journal.stats().records === 0 && received.length === 11);
    await until(() => lines.some((l) => l.msg.startsWith('Backlog drained')));
    add(12, 3); // more live traffic: no second line
    await until(() => received.length === 14);
    await fwd.stop();

    // The first batch after the outage took seqs 3..5: 4 of the 7 still wait when the line is written.
    const back = lines.filter((l) => l.msg.startsWith('Uplink is back'));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ level: 30, backlog: 4, msg: 'Uplink is back; 4 records wait in the journal, the backlog drains alongside live data.' });
    const drained = lines.filter((l) => l.msg.startsWith('Backlog drained'));
    expect(drained).toHaveLength(1);
    expect(drained[0]).toMatchObject({ level: 30, records: 7 });
    expect(drained[0]!.seconds).toBeGreaterThanOrEqual(0);
    expect(drained[0]!.recordsPerSec).toBeGreaterThan(0);
    expect(drained[0]!.msg).toBe(`Backlog drained: 7 records in ${drained[0]!.seconds.toFixed(1)} s (${drained[0]!.recordsPerSec} records/s).`);
    expect(lines.findIndex((l) => l.msg.startsWith('Backlog drained'))).toBeGreaterThan(lines.findIndex((l) => l.msg.startsWith('Uplink is back')));
    journal.close();
  });

  it('at start-up, says how many records the previous run left and logs their drain; a new forwarder on a drained journal does not', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db');
    const previous = new Journal(file);
    previous.append(Array.from({ length: 5 }, (_, i) => ({ key: 'k', type: 'data' as const, value: value(i + 1), capturedAt: i + 1 })));
    previous.close();
    const journal = new Journal(file);
    const { sink, received } = memorySink();
    const { log, lines } = logCapture();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 2 }, log);
    fwd.start();
    await until(() => lines.some((l) => l.msg.startsWith('Backlog drained')));
    journal.append([{ key: 'k', type: 'data', value: value(6), capturedAt: 6 }]);
    await until(() => received.length === 6);
    await fwd.stop();
    expect(lines.filter((l) => l.msg.startsWith('Uplink connected'))).toEqual([expect.objectContaining({ backlog: 3, msg: 'Uplink connected; 3 records wait in the journal.' })]);
    expect(lines.filter((l) => l.msg.startsWith('Backlog drained'))).toEqual([expect.objectContaining({ records: 5 })]);

    // As after a reload that changed the uplink: the journal still says what was held back, but all of it is gone.
    const again = logCapture();
    const next = new Forwarder(journal, sink, { node: 'g/n', batchSize: 2 }, again.log);
    next.start();
    journal.append([{ key: 'k', type: 'data', value: value(7), capturedAt: 7 }]);
    await until(() => received.length === 7);
    await next.stop();
    expect(again.lines.map((l) => l.msg)).toEqual(['Uplink connected; nothing waits in the journal.']);
    journal.close();
  });

  it('keeps several batches in flight where the sink allows it, and lets the journal go strictly in order, also after a failure', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const acks: Array<[number, number]> = [];
    const ack = journal.ack.bind(journal);
    journal.ack = (a: number, b: number) => {
      acks.push([a, b]);
      ack(a, b);
    };
    const received: number[] = [];
    let open = 0;
    let mostOpen = 0;
    let sends = 0;
    const sink: UplinkSink = {
      target: 'memory', client: 'librdkafka', compression: 'none', maxInFlight: 4, wireBytes: () => 0,
      async connect() {},
      async send(records) {
        sends += 1;
        const n = sends;
        open += 1;
        mostOpen = Math.max(mostOpen, open);
        // Later batches often finish first: acknowledgements come back out of order.
        await new Promise((r) => setTimeout(r, 5 + ((n * 7) % 4) * 6));
        open -= 1;
        if (n === 6) throw new Error('leader not available'); // one failure in the middle of the pipeline
        received.push(...records.map((r) => Number(r.headers['edge.seq'])));
      },
      async disconnect() {},
    };
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 25, minBackoffMs: 5, maxBackoffMs: 10, downAfterMs: 60_000, replay: 'in_order' }, logCapture().log);
    journal.append(Array.from({ length: 10 }, (_, i) => ({ key: 'k', type: 'data' as const, value: value(i), capturedAt: i })));
    fwd.start();
    await until(() => fwd.getStatus().state === 'up');
    journal.append(Array.from({ length: 990 }, (_, i) => ({ key: 'k', type: 'data' as const, value: value(i), capturedAt: i })));
    await until(() => journal.stats().records === 0, 10_000);
    await fwd.stop();
    expect(mostOpen).toBe(4);
    // Every record arrived; those behind the failed batch that Kafka had taken arrived twice (at-least-once).
    expect([...new Set(received)].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // The journal was told of acknowledgements in seq order, each range right behind the one before: a prefix.
    let next = 1;
    for (const [a, b] of acks) {
      expect(a).toBe(next);
      next = b + 1;
    }
    expect(next).toBe(1001);
    expect(fwd.getStatus().forwarded).toBe(1000);
    journal.close();
  });

  it('live_first: after an outage, live records go out ahead of the backlog, which drains alongside within replayRate', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const { sink, received, state } = memorySink();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 10, minBackoffMs: 5, maxBackoffMs: 10, downAfterMs: 0, replayRate: 100 }, logCapture().log);
    state.down = true;
    fwd.start();
    const add = (n: number) => journal.append(Array.from({ length: n }, (_, i) => ({ key: 'k', type: 'data' as const, value: value(i), capturedAt: i })));
    add(300); // the backlog, captured while down
    await until(() => fwd.getStatus().state === 'down');
    state.down = false;
    await until(() => fwd.getStatus().state === 'up');
    const startedAt = Date.now();
    add(5); // live
    await until(() => received.some((r) => r.headers['edge.seq'] === '305'));
    const liveAt = received.findIndex((r) => r.headers['edge.seq'] === '305');
    // Live arrived while most of the backlog was still waiting.
    expect(received.slice(0, liveAt).filter((r) => r.headers['edge.historical'] === 'true').length).toBeLessThan(100);
    expect(received.slice(0, liveAt + 1).filter((r) => r.headers['edge.historical'] === 'false').map((r) => r.headers['edge.seq'])).toEqual(['301', '302', '303', '304', '305']);
    await until(() => journal.stats().records === 0, 10_000);
    const seconds = (Date.now() - startedAt) / 1000;
    // 300 backlog records at 100/s take about 2 s or more after the first second's burst.
    expect(seconds).toBeGreaterThan(1.5);
    expect(received.map((r) => Number(r.headers['edge.seq'])).sort((a, b) => a - b)).toEqual(Array.from({ length: 305 }, (_, i) => i + 1));
    await fwd.stop();
    journal.close();
  });

  it('sets a record that Kafka refuses for good aside, and the rest flows past it', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const received: OutRecord[] = [];
    let sends = 0;
    const sink: UplinkSink = {
      target: 'memory',
      client: 'kafkajs',
      compression: 'none',
      maxInFlight: 1,
      wireBytes: () => 0,
      async connect() {},
      async send(records) {
        sends += 1;
        if (records.some((r) => r.value.includes('HUGE'))) throw Object.assign(new Error('too large'), { type: 'MESSAGE_TOO_LARGE' });
        received.push(...records);
      },
      async disconnect() {},
    };
    const { log, lines } = logCapture();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 16, isPermanent: permanentKafkaError }, log);
    journal.append(Array.from({ length: 40 }, (_, i) => ({ key: 'k', type: 'data' as const, value: i === 20 ? `HUGE${value(i)}` : value(i), capturedAt: i })));
    fwd.start();
    await until(() => journal.stats().records === 0);
    await fwd.stop();
    expect(received.map((r) => Number(r.headers['edge.seq']))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1).filter((s) => s !== 21));
    expect(journal.stats().deadLetters).toBe(1);
    expect(fwd.getStatus().deadLettered).toBe(1);
    expect(sends).toBeLessThan(20); // bisected, not one record at a time
    expect(lines.filter((l) => l.msg.includes('refused record edge.seq 21'))).toHaveLength(1);
    journal.close();
  });

  it('retries a brief failure without calling it an outage or flagging records historical', async () => {
    const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db'));
    const { sink, received, state } = memorySink();
    const { log, lines } = logCapture();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 10, minBackoffMs: 5, maxBackoffMs: 10, downAfterMs: 60_000 }, log);
    state.down = true;
    fwd.start();
    journal.append([{ key: 'k', type: 'data', value: value(1), capturedAt: 1 }]);
    await until(() => state.attempts >= 3);
    state.down = false;
    await until(() => received.length === 1);
    await fwd.stop();
    expect(received[0]!.headers['edge.historical']).toBe('false');
    expect(lines.filter((l) => l.msg.startsWith('Uplink unreachable'))).toHaveLength(0);
    journal.close();
  });

  it('treats a backlog left by the previous run as held back, and this run\'s records as live', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fwd-')), 'j.db');
    const previous = new Journal(file);
    previous.append([{ key: 'k', type: 'data', value: value(1), capturedAt: 1 }]);
    previous.close();
    const journal = new Journal(file);
    const { sink, received } = memorySink();
    const fwd = new Forwarder(journal, sink, { node: 'g/n', batchSize: 10 }, logCapture().log);
    fwd.start();
    await until(() => received.length === 1);
    journal.append([{ key: 'k', type: 'data', value: value(2), capturedAt: 2 }]);
    await until(() => received.length === 2);
    await fwd.stop();
    expect(received.map((r) => r.headers['edge.historical'])).toEqual(['true', 'false']);
    journal.close();
  });
});
