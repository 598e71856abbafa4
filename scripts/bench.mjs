// `npm run bench`: journal capture and Kafka drain, each beside the ceiling measured in the same run on the same
// machine (raw better-sqlite3 batched inserts; a bare kafkajs producer sending the same records). Medians of
// several rounds; a table on screen and JSON in bench-results/journal.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { pino } from 'pino';
import { toJournalEntry } from '../dist/edge/journal-record.js';
import { Forwarder } from '../dist/uplink/forwarder.js';
import { Journal } from '../dist/uplink/journal/journal.js';
import { createKafkaSink } from '../dist/uplink/kafka/kafkajs-sink.js';
import { renderJson } from '../dist/uplink/journal/compact.js';
import { startKafka } from './bench-kafka.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CAPTURE_RECORDS = Number(process.env.BENCH_CAPTURE ?? 50_000);
const DRAIN_RECORDS = Number(process.env.BENCH_DRAIN ?? 50_000);
const METRICS_PER_RECORD = 10;
const silent = pino({ level: 'silent' });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tmp = () => mkdtempSync(join(tmpdir(), 'bench-'));

function sampleMessage(i) {
  const now = Date.now();
  return {
    kind: 'DDATA',
    device: `press-${i % 10}`,
    payload: {
      timestamp: now,
      metrics: Array.from({ length: METRICS_PER_RECORD }, (_, m) => ({ name: `tag-${m}`, datatype: 'Float', value: i + m / 10, timestamp: now })),
    },
  };
}
// Each with the JSON of its Kafka value, for the baselines that store or send that text.
const entries = (n) => Array.from({ length: n }, (_, i) => {
  const e = toJournalEntry('bench', 'gw', sampleMessage(i));
  return { ...e, json: renderJson(e.message) };
});

/** Ceiling: the same rows through better-sqlite3 directly, 1000 per transaction. */
function rawInsert(rows, sync) {
  const dir = tmp();
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync}`);
  db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL) STRICT');
  const insert = db.prepare('INSERT INTO records (seq, captured_at, key, type, value) VALUES (?, ?, ?, ?, ?)');
  const batch = db.transaction((slice, base) => slice.forEach((e, k) => insert.run(base + k, e.capturedAt, e.key, e.type, e.json)));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += 1000) batch(rows.slice(i, i + 1000), i + 1);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return rows.length / s;
}

/** The gateway's path: messages queued as they come, group-committed by the journal. */
async function journalCapture(rows, sync) {
  const dir = tmp();
  const j = new Journal(join(dir, 'journal.db'), { sync });
  const t0 = process.hrtime.bigint();
  // Messages arrive in bursts, as poll results do: 1000 per event-loop turn.
  for (let i = 0; i < rows.length; i += 1000) {
    for (let k = i; k < Math.min(i + 1000, rows.length); k++) j.enqueue(rows[k]);
    await new Promise((r) => setImmediate(r));
  }
  j.flush();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  j.close();
  rmSync(dir, { recursive: true, force: true });
  return rows.length / s;
}

/** Ceiling: a bare kafkajs producer, batches of 1000, acks=all, one request at a time (as the forwarder). */
async function bareProducer(bootstrap, rows, topic) {
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: 'warm', value: 'up' }] });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += 1000) {
    const slice = rows.slice(i, i + 1000);
    await producer.send({ topic, acks: -1, messages: slice.map((r, k) => ({ key: r.key, value: r.json, headers: { 'edge.node': 'bench/gw', 'edge.seq': String(i + k + 1), 'edge.historical': 'false' }, timestamp: String(r.capturedAt) })) });
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await producer.disconnect();
  return rows.length / s;
}

/** The gateway's path: a journal holding the backlog, drained by the forwarder through the Kafka sink. */
async function forwarderDrain(bootstrap, rows, topic) {
  const dir = tmp();
  const journal = new Journal(join(dir, 'journal.db'));
  for (let i = 0; i < rows.length; i += 1000) journal.append(rows.slice(i, i + 1000));
  const sink = createKafkaSink({ brokers: [bootstrap], topic, batch_size: 1000 }, 'bench', silent);
  await sink.connect();
  await sink.send([{ key: 'warm', value: 'up', headers: {}, timestamp: Date.now() }]);
  const fwd = new Forwarder(journal, sink, { node: 'bench/gw', batchSize: 1000 }, silent);
  const t0 = process.hrtime.bigint();
  fwd.start();
  while (journal.stats().records > 0) await new Promise((r) => setTimeout(r, 5));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await fwd.stop();
  journal.close();
  rmSync(dir, { recursive: true, force: true });
  return rows.length / s;
}

const results = [];
function record(name, baseline, values, baselineValues) {
  const m = median(values);
  const b = median(baselineValues);
  results.push({ name, baseline, unit: 'records/s', median: Math.round(m), baselineMedian: Math.round(b), ratio: Number((m / b).toFixed(2)), samplesPerSecond: Math.round(m * METRICS_PER_RECORD), rounds: values.map(Math.round), baselineRounds: baselineValues.map(Math.round) });
}

const captureRows = entries(CAPTURE_RECORDS);
for (const sync of ['normal', 'full']) {
  const raw = [];
  const ours = [];
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(rawInsert(captureRows, sync));
    ours.push(await journalCapture(captureRows, sync));
  }
  record(`capture, sync ${sync}`, 'better-sqlite3, the plain JSON rows, 1000-row transactions', ours, raw);
}

const kafka = await startKafka(root);
try {
  const drainRows = entries(DRAIN_RECORDS);
  const bare = [];
  const ours = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await bareProducer(kafka.bootstrap, drainRows, `bench.bare.${r}`));
    ours.push(await forwarderDrain(kafka.bootstrap, drainRows, `bench.fwd.${r}`));
  }
  record('drain to Kafka', 'bare kafkajs producer, 1000 per send, acks=all', ours, bare);
} finally {
  await kafka.stop();
}

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('benchmark', 22)}${pad('median rec/s', 14)}${pad('samples/s', 12)}${pad('ceiling rec/s', 15)}${pad('ratio', 7)}ceiling`);
for (const r of results) console.log(`${pad(r.name, 22)}${pad(r.median, 14)}${pad(r.samplesPerSecond, 12)}${pad(r.baselineMedian, 15)}${pad(r.ratio, 7)}${r.baseline}`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', 'journal.json');
writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), rounds: ROUNDS, captureRecords: CAPTURE_RECORDS, drainRecords: DRAIN_RECORDS, metricsPerRecord: METRICS_PER_RECORD, results }, null, 2));
console.log(`\n${ROUNDS} rounds each; medians; JSON in ${out}`);
process.exit(0);
