// `edge-gateway verify` against a real Kafka broker: records written as the gateway writes them (README, "Kafka record
// contract"), with holes, a gap record and a resent batch, then the built command line reads them back.
import { Kafka, logLevel, Partitioners, type Message, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify, type VerifyProgress } from '../src/uplink/verify/verify.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { startKafka, type KafkaBroker } from './helpers/kafka.js';
import { sleep } from './helpers/net.js';

let kafka: KafkaBroker;
let client: Kafka;
let producer: Producer;

beforeAll(async () => {
  kafka = await startKafka();
  client = new Kafka({ clientId: 'verify-test', brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING });
  producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect().catch(() => undefined);
  await kafka?.stop();
});

const GW1 = 'plant/gw-01';
const GW2 = 'plant/gw-02';

/** A data record of `node` as the forwarder sends it: device key, the three headers, the JSON value. */
function data(node: string, seq: number, opts: { historical?: boolean; timestamp?: number } = {}): Message {
  const [group, name] = node.split('/');
  const device = `press-0${seq % 3}`;
  const historical = opts.historical ?? false;
  const timestamp = opts.timestamp ?? Date.now();
  return {
    key: `${node}/${device}`,
    value: JSON.stringify({ type: 'data', group, node: name, device, timestamp, historical, metrics: [{ name: 'temperature', timestamp, datatype: 'Float', value: seq }] }),
    headers: { 'edge.node': node, 'edge.seq': String(seq), 'edge.historical': String(historical) },
  };
}

/** The journal's announcement that from..to were dropped and will never arrive. */
function gapRecord(node: string, seq: number, from: number, to: number, reason: string): Message {
  const [group, name] = node.split('/');
  return {
    key: node,
    value: JSON.stringify({ type: 'gap', group, node: name, device: null, timestamp: Date.now(), historical: false, from, to, count: to - from + 1, reason }),
    headers: { 'edge.node': node, 'edge.seq': String(seq), 'edge.historical': 'false' },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function createTopic(topic: string): Promise<void> {
  const admin = client.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function send(topic: string, messages: Message[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages });
}

/** gw-01 complete, 1..4 sent an hour late after an outage; gw-02 with 5..7 announced dropped, optionally more. */
async function produceScenario(topic: string, opts: { holeAndDuplicates: boolean }): Promise<void> {
  await createTopic(topic);
  const hourAgo = Date.now() - 3_600_000;
  await send(topic, range(1, 4).map((s) => data(GW1, s, { historical: true, timestamp: hourAgo + s })));
  await send(topic, range(5, 12).map((s) => data(GW1, s)));
  await send(topic, [...range(1, 4).map((s) => data(GW2, s)), gapRecord(GW2, 8, 5, 7, 'max_bytes'), ...range(9, 12).map((s) => data(GW2, s))]);
  if (opts.holeAndDuplicates) {
    // 13 and 14 never arrive and nothing announces them; 9..11 come a second time (a batch resent after a crash)
    await send(topic, range(15, 20).map((s) => data(GW2, s)));
    await send(topic, range(9, 11).map((s) => data(GW2, s)));
    await send(topic, [{ key: 'someone-else', value: '{"not":"ours"}' }]); // no edge.* headers: foreign
  } else {
    await send(topic, range(13, 20).map((s) => data(GW2, s)));
  }
}

/** stderr holds the progress lines and nothing else (no warning, no error); the last says it is done. */
function expectOnlyProgress(stderr: string): void {
  const lines = stderr.trimEnd().split('\n');
  for (const line of lines) expect(line).toMatch(/^verify: (done, )?\d+ records read, \d+ of \d+ partitions read up to their end offsets at start, \d+\.\d s$/);
  expect(lines.at(-1)).toMatch(/^verify: done, /);
}

const cliArgs = (topic: string, ...extra: string[]) => ['verify', '--brokers', kafka.bootstrap, '--topic', topic, '--from-beginning', '--idle-ms', '1500', '--timeout-ms', '25000', ...extra];

describe('edge-gateway verify', () => {
  it('reports the unannounced hole and the duplicates, and exits 1', async () => {
    const topic = 'verify.hole';
    await produceScenario(topic, { holeAndDuplicates: true });

    const r = runCli(cliArgs(topic));
    expectOnlyProgress(r.stderr);
    expect(r.stderr).toMatch(/^verify: done, 31 records read, 3 of 3 partitions/m);
    expect(r.code).toBe(1);
    expect(r.stdout, r.stdout).toMatch(/records 31, nodes 2, foreign 1/); // the whole report when it does not match
    expect(r.stdout).toMatch(/^plant\/gw-01\s+12\s+12\s+0\s+1\.\.12\s+0\s+0\s+0\s+4\s+60\.\d min$/m);
    expect(r.stdout).toMatch(/^plant\/gw-02\s+18\s+15\s+3\s+1\.\.20\s+2\s+3\s+1\s+0\s+-$/m);
    expect(r.stdout).toMatch(/^\s+5\.\.7\s+3\s+announced \(max_bytes\)$/m);
    expect(r.stdout).toMatch(/^\s+13\.\.14\s+2\s+MISSING$/m);
    expect(r.stdout).toMatch(/NOT OK: 2 seqs missing in 1 of 2 nodes \(3 announced, 3 duplicates\)/);

    const j = runCli([...cliArgs(topic), '--json']);
    expect(j.code).toBe(1);
    const report = JSON.parse(j.stdout);
    expect(report).toMatchObject({ ok: false, fromBeginning: true, records: 31, foreign: 1, totals: { missing: 2, announced: 3, duplicates: 3, historical: 4 } });
    expect(report.run).toMatchObject({ topic, partitions: 3, stoppedBy: 'end', follow: false, atStart: 31, filledFromBeyond: 0, endReached: true, brokers: [kafka.bootstrap] });
    const [gw1, gw2] = report.nodes;
    expect(gw1).toMatchObject({ node: GW1, records: 12, distinct: 12, duplicates: 0, lowest: 1, highest: 12, missing: 0, gaps: [], historical: 4 });
    // sent now, stamped an hour ago: the delay is the hour (plus the few seconds the test took)
    expect(gw1.maxHistoricalDelayMs).toBeGreaterThanOrEqual(3_600_000 - 4);
    expect(gw1.maxHistoricalDelayMs).toBeLessThan(3_600_000 + 30_000);
    expect(gw2).toMatchObject({ node: GW2, records: 18, distinct: 15, duplicates: 3, lowest: 1, highest: 20, missing: 2, announced: 3, gapRecords: 1, maxHistoricalDelayMs: null });
    expect(gw2.gaps).toEqual([
      { from: 5, to: 7, count: 3, status: 'announced', reason: 'max_bytes' },
      { from: 13, to: 14, count: 2, status: 'missing' },
    ]);
  });

  it('exits 0 when every hole was announced by a gap record', async () => {
    const topic = 'verify.complete';
    await produceScenario(topic, { holeAndDuplicates: false });
    const r = runCli(cliArgs(topic));
    expectOnlyProgress(r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plant\/gw-02\s+17\s+17\s+0\s+1\.\.20\s+0\s+3\s+1\s+0\s+-$/m);
    expect(r.stdout).toMatch(/OK: nothing missing that was not announced \(3 announced, 0 duplicates\)/);
  });

  it('without --from-beginning counts only what arrives after start, from the lowest seq seen', async () => {
    const topic = 'verify.live';
    await createTopic(topic);
    await send(topic, range(1, 5).map((s) => data(GW1, s))); // before start: not read
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    // The idle time (from readiness) only has to outlast one send on a loaded machine.
    const progress: VerifyProgress[] = [];
    const running = verify({ brokers: [kafka.bootstrap], topic, fromBeginning: false, idleMs: 5000, timeoutMs: 30_000, onReady: () => ready(), progressEveryMs: 500, onProgress: (p) => progress.push(p) });
    await isReady; // joined, and "latest" resolved on its first fetch: what is sent now is counted
    await send(topic, [...range(6, 8), ...range(10, 12)].map((s) => data(GW1, s)));
    const report = await running;
    expect(report).toMatchObject({ fromBeginning: false, records: 6, run: { stoppedBy: 'idle', follow: true, atStart: null, endReached: true } });
    // Every half second while it waited out the idle time, and once at the end.
    expect(progress.filter((p) => !p.done).length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatchObject({ done: true, records: 6, partitionsDone: 3, partitions: 3 });
    expect(report.nodes[0]).toMatchObject({ node: GW1, expectedFrom: 6, lowest: 6, highest: 12, missing: 1, gaps: [{ from: 9, to: 9, count: 1, status: 'missing' }] });
  });

  it('with --from-beginning ends by itself at the end offsets found at start, while a producer keeps writing', async () => {
    const topic = 'verify.busy';
    await createTopic(topic);
    let seq = 0;
    const next = (n: number) => Array.from({ length: n }, () => data(GW1, ++seq));
    for (let i = 0; i < 40; i++) await send(topic, next(1000));
    // Batches of 100 over the three device keys, as the forwarder sends them, during the whole run.
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await send(topic, next(100));
        await sleep(5);
      }
    })();
    const before = seq;
    const startedAt = Date.now();
    const r = await runCliAsync([...cliArgs(topic), '--json'], { timeoutMs: 90_000 });
    const tookMs = Date.now() - startedAt;
    const during = seq - before;
    writing = false;
    await writer;

    const report = JSON.parse(r.stdout);
    expect(report.run, r.stderr).toMatchObject({ stoppedBy: 'end', follow: false, endReached: true });
    expect(report.run.atStart).toBeGreaterThanOrEqual(40_000);
    // Exactly what the partitions held at start, plus records just past the ends that closed a torn batch's holes.
    expect(report.records).toBe(report.run.atStart + report.run.filledFromBeyond);
    expect(report.totals.missing).toBe(0);
    expect(report.nodes[0]).toMatchObject({ node: GW1, lowest: 1, missing: 0, duplicates: 0 });
    expect(r.code).toBe(0);
    expect(during).toBeGreaterThan(0); // the topic grew while it was read
    expect(seq).toBeGreaterThan(report.nodes[0].highest);
    expectOnlyProgress(r.stderr);
    expect(r.stderr).toMatch(new RegExp(`^verify: done, ${report.records} records read, 3 of 3 partitions`, 'm'));
    console.log(`verify on a topic being written: ${report.records} records read (${report.run.atStart} at start, ${report.run.filledFromBeyond} filled from past the ends) in ${tookMs} ms while ${during} more were written; stderr:\n${r.stderr}`);
  });

  it('reports a topic that does not exist, and usage errors with exit 2', () => {
    const missing = runCli(['verify', '--brokers', kafka.bootstrap, '--topic', 'verify.nope', '--idle-ms', '500']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/topic "verify\.nope" does not exist/);
    for (const args of [
      ['verify', '--topic', 't'],
      ['verify', '--brokers', kafka.bootstrap],
      ['verify', '--brokers', 'no-port', '--topic', 't'],
      ['verify', '--brokers', kafka.bootstrap, '--topic', 't', '--idle-ms', 'soon'],
      ['verify', '--brokers', kafka.bootstrap, '--topic', 't', '--bogus'],
    ]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/Usage:/);
    }
  });
});
