// `npm run bench` (journal part): what a 24-hour outage costs the journal. Bytes per sample on disk beside the
// plain JSON format, capture beside raw better-sqlite3 inserts of the same bytes, open time at 0, 1 M and 10 M
// records, bytes written per sample at 1, 100 and 10,000 samples/s, RSS, and the outage itself: 8.64 M records
// of 10 metrics captured with Kafka down, then drained. Medians where rounds repeat; a table on screen and JSON
// in bench-results/journal-format.json. Sizes scale down with BENCH_SCALE (0.1 runs in a few minutes).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { toJournalEntry } from '../dist/edge/journal-record.js';
import { Forwarder } from '../dist/uplink/forwarder.js';
import { Journal, openJournal } from '../dist/uplink/journal/journal.js';
import { encodeCompact, renderJson } from '../dist/uplink/journal/compact.js';
import { Dictionary } from '../dist/uplink/journal/dictionary.js';
import { compactChecksum } from '../dist/uplink/journal/checksum.js';
import { createKafkaSink } from '../dist/uplink/kafka/kafkajs-sink.js';
import { startKafka } from './bench-kafka.mjs';
import { DEFAULT_COMMIT_INTERVAL_MS as DEFAULT_COMMIT_MS } from '../dist/edge/config/schema.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const METRICS = 10;
// Long enough for a few commits at the default interval and one checkpoint (housekeeping's every 5 minutes).
const WEAR_SECONDS = Number(process.env.BENCH_WEAR_SECONDS ?? 330);
/** The journal as the gateway opens it. */
const GATEWAY = {};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tmp = () => mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-journal-'));
const silent = pino({ level: 'silent' });
const rssMiB = () => Math.round(process.memoryUsage().rss / 1024 ** 2);
const fileBytes = (file) => ['', '-wal'].reduce((n, s) => n + (existsSync(file + s) ? statSync(file + s).size : 0), 0);

/** A poll of one PLC: 10 float tags, as the gateway captures them (a DDATA message). */
function message(i, now = 1_750_000_000_000 + i * 10) {
  return {
    kind: 'DDATA',
    device: `press-${i % 10}`,
    payload: { timestamp: now, metrics: Array.from({ length: METRICS }, (_, m) => ({ name: `line/tag-${m}`, datatype: 'Float', value: Math.fround(20 + Math.sin(i / 50 + m) * 5), timestamp: now })) },
  };
}
const entry = (i, now) => ({ ...toJournalEntry('bench', 'gw', message(i, now)), capturedAt: now ?? 1_750_000_000_000 + i * 10 + 3 });

function build(file, records) {
  const j = new Journal(file);
  for (let i = 0; i < records; i += 1000) j.append(Array.from({ length: Math.min(1000, records - i) }, (_, k) => entry(i + k)));
  j.close();
}

/** Bytes per sample on disk, steady state (file + WAL after capture with commits as they come), beside plain JSON. */
function bytesPerSample(records) {
  const dir = tmp();
  const file = join(dir, 'journal.db');
  const j = new Journal(file, { commitIntervalMs: 1000 });
  for (let i = 0; i < records; i += 500) j.append(Array.from({ length: 500 }, (_, k) => entry(i + k)));
  const compact = fileBytes(file) / (records * METRICS);
  j.close();
  // The plain format: each record the JSON of its Kafka value, as journals stored it before.
  const plainFile = join(dir, 'plain.db');
  const db = new Database(plainFile);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, checksum INTEGER) STRICT');
  const insert = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)');
  const batch = db.transaction((from, n) => {
    for (let k = 0; k < n; k++) {
      const e = entry(from + k);
      insert.run(from + k + 1, e.capturedAt, e.key, e.type, renderJson(e.message), 123456789);
    }
  });
  for (let i = 0; i < records; i += 500) batch(i, 500);
  const plain = fileBytes(plainFile) / (records * METRICS);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { compact, plain };
}

/** Capture through the journal (queued, group-committed) beside raw inserts of the same compact bytes. */
async function capture(records, rounds) {
  const rows = Array.from({ length: records }, (_, i) => entry(i));
  const dict = new Dictionary([]);
  const blobs = rows.map((e) => encodeCompact(e.message, e.key, e.capturedAt, dict));
  const checksums = rows.map((e, i) => compactChecksum(i + 1, e.capturedAt, 0, blobs[i]));
  const ours = [];
  const raw = [];
  const rawDefault = [];
  // The same rows (seq, capture time, type, bytes, checksum), 1000 per transaction: in a file laid out as the
  // journal's (1 KiB pages, incremental vacuum), and in SQLite's default file (4 KiB pages, no vacuum).
  const rawRun = (layout) => {
    const dir = tmp();
    const db = new Database(join(dir, 'raw.db'));
    if (layout === 'journal') {
      db.pragma('page_size = 1024');
      db.pragma('auto_vacuum = INCREMENTAL');
    }
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB, checksum INTEGER) STRICT');
    const insert = db.prepare('INSERT INTO records VALUES (?, ?, 0, ?, ?)');
    const batch = db.transaction((from) => {
      for (let k = from; k < Math.min(from + 1000, records); k++) insert.run(k + 1, rows[k].capturedAt, blobs[k], checksums[k]);
    });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < records; i += 1000) batch(i);
    const rate = records / (Number(process.hrtime.bigint() - t0) / 1e9);
    db.close();
    rmSync(dir, { recursive: true, force: true });
    return rate;
  };
  for (let r = 0; r < rounds; r++) {
    raw.push(rawRun('journal'));
    rawDefault.push(rawRun('default'));
    const dir = tmp();
    const j = new Journal(join(dir, 'journal.db'));
    const t0 = process.hrtime.bigint();
    // Poll results arrive in bursts: 1000 messages per event-loop turn.
    for (let i = 0; i < records; i += 1000) {
      for (let k = i; k < Math.min(i + 1000, records); k++) j.enqueue(rows[k]);
      await new Promise((res) => setImmediate(res));
    }
    j.flush();
    ours.push(records / (Number(process.hrtime.bigint() - t0) / 1e9));
    j.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    ours: median(ours), raw: median(raw), ratio: median(ours) / median(raw), rawDefaultFile: median(rawDefault), ratioDefaultFile: median(ours) / median(rawDefault),
    rounds: { ours: ours.map(Math.round), raw: raw.map(Math.round), rawDefaultFile: rawDefault.map(Math.round) },
  };
}

/** Open time (median of 3, after an orderly close), and once from a crash image of the same files. */
function openTime(records) {
  const dir = tmp();
  const file = join(dir, 'journal.db');
  const t0 = process.hrtime.bigint();
  if (records > 0) build(file, records);
  const buildS = Number(process.hrtime.bigint() - t0) / 1e9;
  const times = [];
  for (let r = 0; r < 3; r++) {
    const t = process.hrtime.bigint();
    const { journal } = openJournal(file, GATEWAY);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (journal.stats().records !== records) throw new Error(`opened ${journal.stats().records} records, built ${records}`);
    journal.close();
  }
  // A crash: the files copied while the journal is open, then opened.
  const j = new Journal(file);
  j.append([entry(records)]);
  const image = join(dir, 'image.db');
  for (const s of ['', '-wal', '-shm', '.seq']) if (existsSync(file + s)) copyFileSync(file + s, image + s);
  j.close();
  const t = process.hrtime.bigint();
  const { journal } = openJournal(image, {});
  const crashMs = Number(process.hrtime.bigint() - t) / 1e6;
  journal.close();
  const size = fileBytes(file);
  rmSync(dir, { recursive: true, force: true });
  return { records, ms: median(times), crashMs, buildRecordsPerSec: records > 0 ? Math.round(records / buildS) : null, fileBytes: size };
}

/** In a child process of its own (its /proc/self/io): capture at `rate` samples/s for `seconds`, acknowledged as Kafka would. */
async function wearChild(rate, seconds, intervalMs) {
  const io = () => Number(/^write_bytes:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
  const dir = tmp();
  const j = new Journal(join(dir, 'journal.db'), { ...GATEWAY, commitIntervalMs: intervalMs });
  const perRecord = Math.min(METRICS, rate);
  const recordsPerSec = rate / perRecord;
  const tickMs = Math.max(10, Math.round(1000 / recordsPerSec));
  const perTick = Math.max(1, Math.round((recordsPerSec * tickMs) / 1000));
  let i = 0;
  const next = () => {
    const m = message(i++, Date.now());
    m.payload.metrics = m.payload.metrics.slice(0, perRecord);
    return toJournalEntry('bench', 'gw', m);
  };
  // Warm: the dictionary and the first pages exist.
  j.append([next()]);
  j.checkpoint();
  let acked = 1;
  const start = io();
  const t0 = Date.now();
  let samples = 0;
  let checkpointAt = t0 + 300_000;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        j.enqueue(next(), () => {
          // Kafka acknowledges right after the commit, as with the uplink up.
          const last = j.stats().nextSeq - 1;
          if (last > acked) j.ack(acked + 1, last);
          acked = last;
        });
        samples += perRecord;
      }
      if (Date.now() >= checkpointAt) {
        j.checkpoint(); // housekeeping's default: every 5 minutes
        checkpointAt += 300_000;
      }
      if (Date.now() - t0 >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  j.flush();
  j.checkpoint();
  const bytes = io() - start;
  j.close();
  rmSync(dir, { recursive: true, force: true });
  return { rate, intervalMs, seconds, samples, writeBytes: bytes, perSample: bytes / samples };
}

function runChild(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

/** The outage: records captured with Kafka down (RSS sampled), the journal's size, then the drain through the forwarder. */
async function outage(records) {
  const dir = tmp();
  const file = join(dir, 'journal.db');
  const j = new Journal(file, { ...GATEWAY, commitIntervalMs: DEFAULT_COMMIT_MS });
  j.setHeldBack(true);
  const rss = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < records; i += 1000) {
    for (let k = i; k < Math.min(i + 1000, records); k++) j.enqueue(entry(k));
    if (i % 100_000 === 0) rss.push(rssMiB());
    await new Promise((res) => setImmediate(res));
  }
  j.flush();
  const captureS = Number(process.hrtime.bigint() - t0) / 1e9;
  j.checkpoint();
  const size = fileBytes(file);
  const kafka = await startKafka(root);
  try {
    const sink = createKafkaSink({ brokers: [kafka.bootstrap], topic: 'bench.outage', batch_size: 1000 }, 'bench', silent);
    await sink.connect();
    await sink.send([{ key: 'warm', value: 'up', headers: {}, timestamp: Date.now() }]);
    const fwd = new Forwarder(j, sink, { node: 'bench/gw', batchSize: 1000 }, silent);
    const drainRss = [];
    const d0 = process.hrtime.bigint();
    fwd.start();
    while (j.stats().records > 0) {
      await new Promise((res) => setTimeout(res, 1000));
      drainRss.push(rssMiB());
    }
    const drainS = Number(process.hrtime.bigint() - d0) / 1e9;
    await fwd.stop();
    j.close();
    return {
      records, samples: records * METRICS, captureSeconds: captureS, captureRecordsPerSec: Math.round(records / captureS), journalBytes: size,
      bytesPerSample: size / (records * METRICS), hoursAt1000TagsPerSec: (records * METRICS) / 1000 / 3600,
      drainSeconds: drainS, drainRecordsPerSec: Math.round(records / drainS), rssCaptureMiB: median(rss), rssDrainMiB: median(drainRss), rssDrainPeakMiB: Math.max(...drainRss),
    };
  } finally {
    await kafka.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--wear') {
  const [rate, seconds, interval] = process.argv.slice(3).map(Number);
  console.log(JSON.stringify(await wearChild(rate, seconds, interval)));
  process.exit(0);
}

const results = {};
const say = (s) => process.stderr.write(`${s}\n`);
// BENCH_ONLY=capture,open runs those parts alone (bytes, capture, wear, open, outage).
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const part = (name) => !only || only.has(name);
if (part('bytes')) {
  say('journal: bytes per sample …');
  results.bytesPerSample = bytesPerSample(Math.round(200_000 * SCALE));
}
if (part('capture')) {
  say('journal: capture beside raw inserts …');
  results.capture = await capture(Math.round(100_000 * SCALE), 3);
}
if (part('wear')) {
  say(`journal: writes per sample at 1, 100 and 10,000 samples/s (${WEAR_SECONDS} s, in parallel) …`);
  results.wear = await Promise.all([
    runChild(['--wear', '1', String(WEAR_SECONDS), String(DEFAULT_COMMIT_MS)]),
    runChild(['--wear', '1', String(WEAR_SECONDS), '200']),
    runChild(['--wear', '1', String(WEAR_SECONDS), '60000']),
    runChild(['--wear', '100', String(WEAR_SECONDS), String(DEFAULT_COMMIT_MS)]),
    runChild(['--wear', '10000', String(WEAR_SECONDS), String(DEFAULT_COMMIT_MS)]),
  ]);
}
if (part('open')) {
  results.open = [];
  for (const n of [0, 1_000_000, 10_000_000]) {
    say(`journal: open time at ${Math.round(n * SCALE)} records …`);
    results.open.push(openTime(Math.round(n * SCALE)));
  }
}
if (part('outage')) {
  say(`journal: a 24-hour outage (${Math.round(8_640_000 * SCALE)} records of ${METRICS} metrics) …`);
  results.outage = await outage(Math.round(8_640_000 * SCALE));
}

const f = (n, d = 1) => Number(n).toFixed(d);
const rows = [
  ...(results.bytesPerSample ? [['bytes per sample on disk (file + WAL)', `${f(results.bytesPerSample.compact)} B`, `plain JSON ${f(results.bytesPerSample.plain)} B`]] : []),
  ...(results.capture ? [['capture, records/s (median of 3)', Math.round(results.capture.ours), `raw inserts of the same rows, same file layout ${Math.round(results.capture.raw)} (ratio ${f(results.capture.ratio, 2)}); SQLite's default file ${Math.round(results.capture.rawDefaultFile)} (${f(results.capture.ratioDefaultFile, 2)})`]] : []),
  ...(results.open ?? []).map((o) => [`open at ${o.records} records`, `${f(o.ms, 0)} ms`, `after a crash ${f(o.crashMs, 0)} ms; file ${f(o.fileBytes / 1e6)} MB`]),
  ...(results.wear ?? []).map((w) => [`writes per sample at ${w.rate}/s, commit_interval ${w.intervalMs / 1000}s`, `${f(w.perSample, 0)} B`, `${w.samples} samples, ${w.writeBytes} B in ${w.seconds} s`]),
  ...(results.outage
    ? [
        [`24 h outage: ${results.outage.records} records captured`, `${f(results.outage.journalBytes / 1e9, 2)} GB`, `${f(results.outage.bytesPerSample)} B/sample, ${results.outage.captureRecordsPerSec} records/s, RSS ${results.outage.rssCaptureMiB} MiB`],
        ['24 h outage: drained (kafkajs)', `${f(results.outage.drainSeconds, 0)} s`, `${results.outage.drainRecordsPerSec} records/s, RSS median ${results.outage.rssDrainMiB} MiB, peak ${results.outage.rssDrainPeakMiB} MiB`],
      ]
    : []),
];
const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('journal', 52)}${pad('ours', 14)}beside`);
for (const [a, b, c] of rows) console.log(`${pad(a, 52)}${pad(b, 14)}${c}`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', only ? `journal-format-${[...only].join('-')}.json` : 'journal-format.json');
writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), scale: SCALE, metricsPerRecord: METRICS, ...results }, null, 2));
console.log(`\nJSON in ${out}`);
process.exit(0);
