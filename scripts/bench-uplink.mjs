// `npm run bench` (uplink part): draining an outage's backlog to Kafka. The gateway's path (journal → forwarder →
// Kafka client) on client librdkafka and on the kafkajs fallback, beside two ceilings measured in the same run on
// the same broker with the same records: kcat (librdkafka's command-line producer) and a bare librdkafka producer
// in Node.js (@confluentinc/kafka-javascript, delivery reports, no journal). All with acks=all, idempotence and
// zstd where the client has it. While the gateway drains, live data arrives at 1,000 samples/s: its capture → ack
// latency, RSS and the bytes on the wire per sample are measured too. Medians of BENCH_ROUNDS rounds; a table on
// screen, JSON in bench-results/uplink.json. BENCH_UPLINK_RECORDS sets the backlog (default 2,000,000 records of
// 10 metrics; 8,640,000 is a 24-hour outage at 1,000 tags/s).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { DEFAULT_COMMIT_INTERVAL_MS } from '../dist/edge/config/schema.js';
import { toJournalEntry } from '../dist/edge/journal-record.js';
import { Forwarder } from '../dist/uplink/forwarder.js';
import { Journal } from '../dist/uplink/journal/journal.js';
import { renderJson } from '../dist/uplink/journal/compact.js';
import { createKafkaSink } from '../dist/uplink/kafka/kafkajs-sink.js';
import { createLibrdkafkaSink, librdkafkaConfig, loadLibrdkafka } from '../dist/uplink/kafka/librdkafka-sink.js';
import { startKafka } from './bench-kafka.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const RECORDS = Number(process.env.BENCH_UPLINK_RECORDS ?? 2_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const METRICS = 10;
const BATCH = 1000;
/** Live data during the drain: 10 devices of 10 tags polled every 100 ms, 1,000 samples/s. */
const LIVE_DEVICES = 10;
const LIVE_EVERY_MS = 100;
const silent = pino({ level: 'silent' });
const say = (s) => process.stderr.write(`${s}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor(s.length * q))];
};
const rssMiB = () => Math.round(process.memoryUsage().rss / 1024 ** 2);
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-uplink-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** A poll of one PLC: 10 float tags, as the gateway captures them (a DDATA message). */
function message(i, now) {
  return {
    kind: 'DDATA',
    device: `press-${i % LIVE_DEVICES}`,
    payload: { timestamp: now, metrics: Array.from({ length: METRICS }, (_, m) => ({ name: `line/tag-${m}`, datatype: 'Float', value: Math.fround(20 + Math.sin(i / 50 + m) * 5), timestamp: now })) },
  };
}
const entry = (i, now = 1_750_000_000_000 + i * 10) => ({ ...toJournalEntry('bench', 'gw', message(i, now)), capturedAt: now + 3 });

/** The backlog, built once through the journal's own API (held back: historical, as after an outage), and copied per drain. */
function buildBacklog() {
  const file = join(dir, 'backlog.db');
  const j = new Journal(file);
  j.setHeldBack(true);
  for (let i = 0; i < RECORDS; i += 1000) j.append(Array.from({ length: Math.min(1000, RECORDS - i) }, (_, k) => entry(i + k)));
  j.checkpoint();
  j.close();
  return file;
}
function copyOf(file, name) {
  const to = join(dir, `${name}.db`);
  for (const s of ['', '-wal', '.seq']) if (existsSync(file + s)) copyFileSync(file + s, to + s);
  return to;
}

/** The same records as the gateway sends them (10,000 distinct ones, repeated), for the ceilings. */
const TEMPLATE = Array.from({ length: 10_000 }, (_, i) => {
  const e = entry(i);
  return { key: e.key, value: renderJson(e.message).replace('"historical":false', '"historical":true'), timestamp: e.capturedAt };
});
const HEADERS = (seq) => ({ 'edge.node': 'bench/gw', 'edge.seq': String(seq), 'edge.historical': 'true' });

async function createTopic(bootstrap, topic) {
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
}

/** The gateway's path: the journal holding the backlog, drained by the forwarder, live data arriving meanwhile. */
async function gatewayDrain(bootstrap, backlog, client, topic) {
  await createTopic(bootstrap, topic);
  const file = copyOf(backlog, `${client}-${topic}`);
  const journal = new Journal(file, { commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS });
  const kafka = { brokers: [bootstrap], topic, batch_size: BATCH, client };
  const sink = client === 'librdkafka' ? createLibrdkafkaSink(kafka, 'bench', silent) : createKafkaSink(kafka, 'bench', silent);
  await sink.connect();
  await sink.send([{ key: 'warm', value: 'up', headers: {}, timestamp: Date.now() }]);
  const wireAtStart = sink.wireBytes();
  const live = [];
  const commits = [];
  const unsubscribe = journal.onAppend(() => commits.push({ upTo: journal.stats().nextSeq - 1, at: Date.now() }));
  const commitOf = (seq) => commits.find((c) => c.upTo >= seq)?.at;
  let forwardedSamples = 0;
  const fwd = new Forwarder(journal, sink, {
    node: 'bench/gw', batchSize: BATCH,
    onAcked: (batch) => {
      const now = Date.now();
      for (const r of batch) {
        forwardedSamples += r.samples ?? 1;
        if (!r.held) live.push({ captureToAck: now - r.capturedAt, commitToAck: now - (commitOf(r.seq) ?? now) });
      }
    },
  }, silent);
  let n = RECORDS;
  const liveTimer = setInterval(() => {
    const now = Date.now();
    for (let d = 0; d < LIVE_DEVICES; d++) journal.enqueue(entry(n++, now));
  }, LIVE_EVERY_MS);
  // One sample now: a short drain ends before the first tick.
  const rss = [rssMiB()];
  const rssTimer = setInterval(() => rss.push(rssMiB()), 500);
  const t0 = process.hrtime.bigint();
  fwd.start();
  // Drained: the backlog is gone (live records keep coming; what is left of them is a few polls).
  while (journal.stats().records > 200) await new Promise((r) => setTimeout(r, 20));
  const s = seconds(t0);
  clearInterval(liveTimer);
  clearInterval(rssTimer);
  journal.flush();
  while (journal.stats().records > 0) await new Promise((r) => setTimeout(r, 20));
  // librdkafka's statistics come every second: the last one counts everything sent.
  await new Promise((r) => setTimeout(r, 1500));
  const wire = sink.wireBytes() - wireAtStart;
  unsubscribe();
  await fwd.stop();
  journal.close();
  rmSync(file, { force: true });
  return {
    recordsPerSec: RECORDS / s, seconds: s, wireBytesPerSample: wire / forwardedSamples, compression: sink.compression,
    rssMedianMiB: median(rss), rssPeakMiB: Math.max(...rss), live: live.length,
    liveP50Ms: quantile(live.map((l) => l.captureToAck), 0.5), liveP99Ms: quantile(live.map((l) => l.captureToAck), 0.99),
    liveCommitToAckP99Ms: quantile(live.map((l) => l.commitToAck), 0.99),
  };
}

/** Ceiling: a bare librdkafka producer in Node.js, the same records and settings, delivery reports, no journal. */
async function bareLibrdkafka(bootstrap, topic) {
  await createTopic(bootstrap, topic);
  const rd = loadLibrdkafka();
  const producer = new rd.Producer(librdkafkaConfig({ brokers: [bootstrap], topic, batch_size: BATCH }, 'bench-bare'));
  await new Promise((resolve, reject) => producer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())));
  producer.setPollInterval(5);
  let delivered = 0;
  let failed = 0;
  let wake;
  producer.on('delivery-report', (err) => {
    if (err) failed += 1;
    delivered += 1;
    wake?.();
  });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < RECORDS; i++) {
    const r = TEMPLATE[i % TEMPLATE.length];
    const headers = Object.entries(HEADERS(i + 1)).map(([k, v]) => ({ [k]: v }));
    for (;;) {
      try {
        producer.produce(topic, null, Buffer.from(r.value), r.key, r.timestamp, null, headers);
        break;
      } catch (err) {
        if (err.code !== -184) throw err; // queue full: wait for deliveries
        await new Promise((res) => (wake = res));
      }
    }
    // As many in flight as the gateway's forwarder at most: 4 batches.
    while (i + 1 - delivered >= 4 * BATCH) await new Promise((res) => (wake = res));
  }
  while (delivered < RECORDS) await new Promise((res) => (wake = res));
  const s = seconds(t0);
  await new Promise((res) => producer.disconnect(5000, res));
  if (failed > 0) throw new Error(`bare librdkafka: ${failed} deliveries failed`);
  return { recordsPerSec: RECORDS / s, seconds: s };
}

/** Ceiling: kcat -P from a file of the same records (key TAB value), acks=all, idempotent, zstd. */
async function kcat(bootstrap, input, topic) {
  await createTopic(bootstrap, topic);
  const t0 = process.hrtime.bigint();
  const code = await new Promise((resolve) => {
    const child = spawn('kcat', ['-P', '-b', bootstrap, '-t', topic, '-K', '\t', '-z', 'zstd', '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', 'linger.ms=5',
      '-X', 'batch.num.messages=10000', '-H', 'edge.node=bench/gw', '-H', 'edge.historical=true', '-H', 'edge.seq=0000000', '-l', input], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', resolve);
  });
  const s = seconds(t0);
  if (code !== 0) throw new Error(`kcat exited ${code}`);
  return { recordsPerSec: RECORDS / s, seconds: s };
}

async function kcatInput() {
  const file = join(dir, 'kcat-input.txt');
  const out = createWriteStream(file);
  const lines = TEMPLATE.map((r) => `${r.key}\t${r.value}\n`);
  for (let i = 0; i < RECORDS; i++) if (!out.write(lines[i % lines.length])) await new Promise((r) => out.once('drain', r));
  await new Promise((r) => out.end(r));
  return file;
}

const haveKcat = spawnSync('kcat', ['-V']).status === 0;
let haveLibrdkafka = true;
try {
  loadLibrdkafka();
} catch {
  haveLibrdkafka = false;
}
if (!haveLibrdkafka) say('uplink: @confluentinc/kafka-javascript is not built here (see the README, "Kafka clients"): client librdkafka and its ceiling are left out.');
if (!haveKcat) say('uplink: kcat is not installed (Debian: apt-get install kcat): its ceiling is left out.');

say(`uplink: a backlog of ${RECORDS} records of ${METRICS} metrics …`);
const b0 = process.hrtime.bigint();
const backlog = buildBacklog();
say(`uplink: built in ${seconds(b0).toFixed(0)} s`);
const input = haveKcat ? await kcatInput() : undefined;
const kafka = await startKafka(root);
const runs = { librdkafka: [], kcat: [], bare: [], kafkajs: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    if (haveLibrdkafka) {
      say(`uplink: round ${r + 1}: the gateway on librdkafka …`);
      runs.librdkafka.push(await gatewayDrain(kafka.bootstrap, backlog, 'librdkafka', `bench.rd.${r}`));
      say(`uplink: round ${r + 1}: bare librdkafka …`);
      runs.bare.push(await bareLibrdkafka(kafka.bootstrap, `bench.bare.${r}`));
    }
    if (haveKcat) {
      say(`uplink: round ${r + 1}: kcat …`);
      runs.kcat.push(await kcat(kafka.bootstrap, input, `bench.kcat.${r}`));
    }
  }
  // The fallback, once: it is the slow one.
  say('uplink: the gateway on kafkajs …');
  runs.kafkajs.push(await gatewayDrain(kafka.bootstrap, backlog, 'kafkajs', 'bench.kjs'));
} finally {
  await kafka.stop();
}

const summary = (xs) => (xs.length === 0 ? null : {
  rounds: xs,
  recordsPerSec: Math.round(median(xs.map((x) => x.recordsPerSec))),
  ...(xs[0].live !== undefined ? {
    liveP99Ms: median(xs.map((x) => x.liveP99Ms)), liveP50Ms: median(xs.map((x) => x.liveP50Ms)), liveCommitToAckP99Ms: median(xs.map((x) => x.liveCommitToAckP99Ms)),
    rssMedianMiB: median(xs.map((x) => x.rssMedianMiB)), rssPeakMiB: Math.max(...xs.map((x) => x.rssPeakMiB)),
    wireBytesPerSample: median(xs.map((x) => x.wireBytesPerSample)), compression: xs[0].compression,
  } : {}),
});
const results = { librdkafka: summary(runs.librdkafka), kafkajs: summary(runs.kafkajs), bareLibrdkafka: summary(runs.bare), kcat: summary(runs.kcat) };
const kcatRate = results.kcat?.recordsPerSec;
const f = (n, d = 1) => (n === null || n === undefined ? '–' : Number(n).toFixed(d));
const minutesFor24h = (rate) => (rate ? f(8_640_000 / rate / 60, 1) : '–');
const rows = [];
for (const [name, r] of [['gateway, client librdkafka', results.librdkafka], ['gateway, client kafkajs', results.kafkajs]]) {
  if (!r) continue;
  rows.push([name, r.recordsPerSec, kcatRate ? f(r.recordsPerSec / kcatRate, 2) : '–', minutesFor24h(r.recordsPerSec),
    `live p99 ${f(r.liveP99Ms, 0)} ms (p50 ${f(r.liveP50Ms, 0)}, commit→ack p99 ${f(r.liveCommitToAckP99Ms, 0)}); RSS ${r.rssMedianMiB}/${r.rssPeakMiB} MiB; ${f(r.wireBytesPerSample, 2)} B/sample on the wire (${r.compression})`]);
}
if (results.bareLibrdkafka) rows.push(['bare librdkafka (Node.js)', results.bareLibrdkafka.recordsPerSec, kcatRate ? f(results.bareLibrdkafka.recordsPerSec / kcatRate, 2) : '–', minutesFor24h(results.bareLibrdkafka.recordsPerSec), 'same records, no journal']);
if (results.kcat) rows.push(['kcat -P', results.kcat.recordsPerSec, '1.00', minutesFor24h(results.kcat.recordsPerSec), 'same records from a file']);
const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('drain of the backlog', 30)}${pad('records/s', 11)}${pad('× kcat', 8)}${pad('24 h, min', 11)}notes`);
for (const [a, b, c, d, e] of rows) console.log(`${pad(a, 30)}${pad(b, 11)}${pad(c, 8)}${pad(d, 11)}${e}`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = process.env.BENCH_UPLINK_OUT ?? join(root, 'bench-results', 'uplink.json');
writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), records: RECORDS, metricsPerRecord: METRICS, batchSize: BATCH, rounds: ROUNDS, liveSamplesPerSec: (LIVE_DEVICES * METRICS * 1000) / LIVE_EVERY_MS, ...results }, null, 2));
console.log(`\n${RECORDS} records of ${METRICS} metrics; medians of ${ROUNDS} rounds (kafkajs: 1); "24 h" is 8.64 M records at that rate; JSON in ${out}`);
process.exit(0);
