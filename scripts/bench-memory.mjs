// `npm run bench`, last part: the gateway's resident memory at 10,000 tags/s, first with no backlog (phase A),
// then while a backlog of 2 M records drains to Kafka beside the same live data (phase B). Everything is real:
// the built gateway as its own process (`node dist/edge/cli.js run`, with the node flags of the systemd unit),
// simulated Modbus TCP PLCs on 127.0.0.1, a KRaft Kafka broker from the jars in .cache. The gateway's VmRSS is
// read from /proc/<pid>/status every 500 ms, from outside; its heap figures from its own /metrics. Medians and
// peaks on screen, JSON in bench-results/memory.json.
//
// BENCH_SCALE scales the backlog (0.1: 200,000 records); BENCH_MEMORY_SECONDS the live phase (default 60 s);
// BENCH_NODE_FLAGS replaces the unit's node flags ('' for none); BENCH_HEAP_SNAPSHOT=1 writes a heap snapshot
// in the middle of each phase (--heapsnapshot-signal) and prints its largest constructors (heap-summary.mjs).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toJournalEntry } from '../dist/edge/journal-record.js';
import { openJournal } from '../dist/uplink/journal/journal.js';
import { freePort, startKafka } from './bench-kafka.mjs';
import { summarise } from './heap-summary.mjs';
import { serveModbusTcp } from './modbus-frames.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const BACKLOG = Math.round(2_000_000 * SCALE);
const LIVE_SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
const PLCS = 10;
const TAGS_PER_PLC = 1000;
const POLL_MS = 1000;
const BACKLOG_METRICS = 10;
const SAMPLE_MS = 500;
/** Before phase A's samples count: the first polls, the birth, V8's first compilations. */
const WARMUP_MS = 15_000;
/** Phase B ends when the journal holds no more than this (live records in flight), or after this long. */
const DRAINED_BELOW = 200;
const DRAIN_TIMEOUT_MS = Math.max(120_000, BACKLOG * 1.5);
const SNAPSHOT = process.env.BENCH_HEAP_SNAPSHOT === '1';
const GROUP = 'bench-plant';
const NODE = 'gw-memory';

const say = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);
const mib = (bytes) => Math.round((bytes / 1024 ** 2) * 10) / 10;

/**
 * How the systemd unit starts the gateway: the node flags of its ExecStart= (… node FLAGS …/cli.js run) and its
 * Environment= settings. BENCH_NODE_FLAGS and BENCH_GATEWAY_ENV ('NAME=value …') replace them ('' for none).
 */
function unitLaunch() {
  const unit = readFileSync(join(root, 'systemd/edge-gateway.service'), 'utf8');
  const exec = /^ExecStart=.*?\bnode\b(.*?)\S*cli\.js run/m.exec(unit);
  const words = (s) => s.split(/\s+/).filter(Boolean);
  const flags = process.env.BENCH_NODE_FLAGS !== undefined ? words(process.env.BENCH_NODE_FLAGS) : exec ? words(exec[1]) : [];
  const pairs = process.env.BENCH_GATEWAY_ENV !== undefined ? words(process.env.BENCH_GATEWAY_ENV) : [...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((m) => words(m[1]));
  return { flags, env: Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])) };
}

// ---------------------------------------------------------------------------------------------------------------
// The PLCs: a lean Modbus TCP server (FC3) whose every holding register changes every half second, so that each
// poll of 1,000 uint16 tags reports all 1,000 (report by exception would otherwise send nothing).

function startPlc() {
  return serveModbusTcp((req) => {
    const fc = req[0];
    const start = req.readUInt16BE(1);
    const count = req.readUInt16BE(3);
    if (fc !== 3) return Buffer.from([fc | 0x80, 1]);
    if (count < 1 || count > 125 || start + count > 0x10000) return Buffer.from([fc | 0x80, 3]);
    const tick = Math.floor(Date.now() / 500);
    const pdu = Buffer.alloc(2 + 2 * count);
    pdu[0] = fc;
    pdu[1] = 2 * count;
    for (let i = 0; i < count; i++) pdu.writeUInt16BE((start + i + tick) & 0xffff, 2 + 2 * i);
    return pdu;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The gateway process.

function configYaml(dir, ports, plcs, bootstrap) {
  const tags = Array.from({ length: TAGS_PER_PLC }, (_, i) => `      - { name: t${i}, table: holding, address: ${i}, type: uint16 }`).join('\n');
  const devices = plcs.map((p, n) => `  - name: plc-${n}\n    driver: modbus-tcp\n    host: 127.0.0.1\n    port: ${p.port}\n    poll: ${POLL_MS}ms\n    tags:\n${tags}`).join('\n');
  return [
    `site: { group: ${GROUP}, node: ${NODE} }`,
    `data_dir: ${join(dir, 'data')}`,
    'log_level: warn',
    `broker: { listen: 127.0.0.1:${ports.mqtt}, embedded: true }`,
    `http: { listen: 127.0.0.1:${ports.http} }`,
    'devices:',
    devices,
    'uplink:',
    `  kafka: { brokers: [${bootstrap}], topic: bench.memory, batch_size: 1000 }`,
    '',
  ].join('\n');
}

async function startGateway(dir, ports, { flags, env }) {
  const log = createWriteStream(join(dir, 'gateway.log'), { flags: 'a' });
  const child = spawn(process.execPath, [...flags, ...(SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2'] : []), join(root, 'dist/edge/cli.js'), 'run', '--config', join(dir, 'gateway.yaml')], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  process.on('exit', () => child.kill('SIGKILL'));
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}: ${readFileSync(join(dir, 'gateway.log'), 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${ports.http}/api/status`)).ok) return child;
    } catch {
      /* not yet listening */
    }
    await sleep(500);
  }
  throw new Error('the gateway did not answer /api/status within 60 s');
}

async function stopGateway(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** VmRSS and its parts (anonymous, file-backed, shared), in KiB, from outside the process. */
function procMemory(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile'), shmem: kib('RssShmem') };
}

/** The gateway's own view, from prom-client's process metrics in /metrics: V8 heap spaces, external memory. */
async function heapMetrics(ports) {
  const text = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
  const one = (name) => Number(new RegExp(`^edge_gateway_${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
  const spaces = {};
  for (const m of text.matchAll(/^edge_gateway_nodejs_heap_space_size_(total|used)_bytes\{space="(\w+)"\} ([0-9.e+]+)/gm)) {
    spaces[m[2]] ??= {};
    spaces[m[2]][m[1]] = Number(m[3]);
  }
  const records = Number(/^edge_gateway_journal_records ([0-9.e+]+)/m.exec(text)?.[1] ?? NaN);
  return { heapTotal: one('nodejs_heap_size_total_bytes'), heapUsed: one('nodejs_heap_size_used_bytes'), external: one('nodejs_external_memory_bytes'), spaces, records };
}

/** Records in the journal, from /metrics (cheap beside /api/status, which lists the value of every tag). */
async function journalRecords(ports) {
  return (await heapMetrics(ports)).records;
}

/**
 * Samples the gateway's RSS every SAMPLE_MS; every 4th sample also its /metrics, handed to `done()`, which says
 * when the phase is over.
 */
async function samplePhase(child, ports, done, onHalf) {
  const rss = [];
  const parts = [];
  const heaps = [];
  const t0 = Date.now();
  let halfDone = false;
  for (let i = 0; ; i++) {
    const m = procMemory(child.pid);
    rss.push(m.rss / 1024);
    parts.push(m);
    if (i % 4 !== 0) {
      await sleep(SAMPLE_MS);
      continue;
    }
    const metrics = await heapMetrics(ports).catch(() => null);
    heaps.push(metrics);
    const state = await done(Date.now() - t0, metrics);
    if (state.finished) break;
    if (!halfDone && state.half) {
      halfDone = true;
      await onHalf?.();
    }
    await sleep(SAMPLE_MS);
  }
  const okHeaps = heaps.filter(Boolean);
  const mid = (pick) => mib(median(okHeaps.map(pick)));
  const spaceNames = Object.keys(okHeaps[0]?.spaces ?? {});
  return {
    seconds: (Date.now() - t0) / 1000,
    samples: rss.length,
    rssMedianMiB: Math.round(median(rss)),
    rssPeakMiB: Math.round(Math.max(...rss)),
    /** Every sample, SAMPLE_MS apart. */
    rssSeriesMiB: rss.map(Math.round),
    rssParts: { anonMiB: Math.round(median(parts.map((p) => p.anon)) / 1024), fileMiB: Math.round(median(parts.map((p) => p.file)) / 1024), shmemMiB: Math.round(median(parts.map((p) => p.shmem)) / 1024) },
    heap: {
      totalMiB: mid((h) => h.heapTotal), usedMiB: mid((h) => h.heapUsed), externalMiB: mid((h) => h.external),
      spaces: Object.fromEntries(spaceNames.map((s) => [s, { totalMiB: mid((h) => h.spaces[s]?.total ?? 0), usedMiB: mid((h) => h.spaces[s]?.used ?? 0) }])),
    },
  };
}

/** SIGUSR2 (--heapsnapshot-signal), then the snapshot file once it is complete, summarised. */
async function snapshot(child, dir, label) {
  const before = new Set(readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')));
  child.kill('SIGUSR2');
  let file;
  for (let i = 0; i < 240 && !file; i++) {
    await sleep(500);
    const fresh = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!fresh) continue;
    // Complete once its size stops changing and it ends its JSON.
    const size = statSync(join(dir, fresh)).size;
    await sleep(1000);
    if (statSync(join(dir, fresh)).size === size && size > 0) file = join(dir, fresh);
  }
  if (!file) return null;
  const summary = summarise(file, 15);
  say(`\n${label}: heap snapshot ${mib(statSync(file).size)} MiB on disk; the largest self sizes by constructor:`);
  for (const row of summary.top) say(`  ${String(row.MiB).padStart(7)} MiB  ${String(row.count).padStart(9)}  ${row.name}`);
  if (process.env.BENCH_KEEP) say(`  kept ${file}`);
  else rmSync(file, { force: true });
  return summary;
}

// ---------------------------------------------------------------------------------------------------------------
// The backlog: records of 10 metrics, as an outage leaves them, written through the journal's own API.

function buildBacklog(file, records) {
  const { journal } = openJournal(file, {});
  const base = Date.now() - records * 10;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < records; i += 1000) {
    const batch = [];
    for (let k = i; k < Math.min(i + 1000, records); k++) {
      const now = base + k * 10;
      const metrics = Array.from({ length: BACKLOG_METRICS }, (_, m) => ({ name: `line/tag-${m}`, datatype: 'Float', value: Math.fround(20 + Math.sin(k / 50 + m) * 5), timestamp: now }));
      batch.push({ ...toJournalEntry(GROUP, NODE, { kind: 'DDATA', device: `press-${k % 10}`, payload: { timestamp: now, metrics } }), capturedAt: now + 3 });
    }
    journal.append(batch);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  journal.close();
  return { records, seconds };
}

// ---------------------------------------------------------------------------------------------------------------

const launch = unitLaunch();
const { flags } = launch;
const envText = Object.entries(launch.env).map(([k, v]) => `${k}=${v}`).join(' ');
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-memory-'));
const ports = { mqtt: await freePort(), http: await freePort() };
say(`memory: Kafka, ${PLCS} simulated PLCs × ${TAGS_PER_PLC} tags every ${POLL_MS} ms; gateway node flags: ${flags.join(' ') || '(none)'}; environment: ${envText || '(none)'}`);
const kafka = await startKafka(root);
const plcs = await Promise.all(Array.from({ length: PLCS }, startPlc));
const results = { when: new Date().toISOString(), scale: SCALE, plcs: PLCS, tagsPerPlc: TAGS_PER_PLC, pollMs: POLL_MS, tagsPerSecond: (PLCS * TAGS_PER_PLC * 1000) / POLL_MS, backlogRecords: BACKLOG, backlogMetricsPerRecord: BACKLOG_METRICS, nodeFlags: flags, environment: launch.env, node: process.version };
try {
  writeFileSync(join(dir, 'gateway.yaml'), configYaml(dir, ports, plcs, kafka.bootstrap));

  say(`memory: phase A, ${PLCS * TAGS_PER_PLC} tags/s, no backlog (${WARMUP_MS / 1000} s warm-up, ${LIVE_SECONDS} s sampled) …`);
  let gw = await startGateway(dir, ports, launch);
  await sleep(WARMUP_MS);
  const snapA = [];
  results.phaseA = await samplePhase(gw, ports, (ms) => ({ finished: ms >= LIVE_SECONDS * 1000, half: ms >= (LIVE_SECONDS * 1000) / 2 }), async () => {
    if (SNAPSHOT) snapA.push(await snapshot(gw, dir, 'phase A'));
  });
  const statusA = await (await fetch(`http://127.0.0.1:${ports.http}/api/status`)).json();
  results.phaseA.samplesPerSec = statusA.journal.samplesPerSec;
  results.phaseA.uplinkThroughput = statusA.uplink.throughput;
  await stopGateway(gw);

  say(`memory: building a backlog of ${BACKLOG} records in the gateway's journal …`);
  const built = buildBacklog(join(dir, 'data', 'journal.db'), BACKLOG);
  results.backlogBuildSeconds = built.seconds;

  say('memory: phase B, the same live data while the backlog drains …');
  gw = await startGateway(dir, ports, launch);
  const startRecords = await journalRecords(ports);
  const snapB = [];
  let drainedAt;
  results.phaseB = await samplePhase(gw, ports, async (ms, metrics) => {
    const left = metrics?.records ?? startRecords;
    if (left <= DRAINED_BELOW) drainedAt ??= ms;
    return { finished: left <= DRAINED_BELOW || ms >= DRAIN_TIMEOUT_MS, half: left <= startRecords / 2 };
  }, async () => {
    if (SNAPSHOT) snapB.push(await snapshot(gw, dir, 'phase B'));
  });
  results.phaseB.backlogAtStart = startRecords;
  results.phaseB.drained = drainedAt !== undefined;
  results.phaseB.drainRecordsPerSec = drainedAt ? Math.round(startRecords / (drainedAt / 1000)) : null;
  await stopGateway(gw);
  if (SNAPSHOT) results.snapshots = { phaseA: snapA[0] ?? null, phaseB: snapB[0] ?? null };
} finally {
  await Promise.all(plcs.map((p) => p.close()));
  await kafka.stop();
  if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  else say(`memory: kept ${dir}`);
}

const { phaseA: a, phaseB: b } = results;
const pad = (s, n) => String(s).padEnd(n);
const heapLine = (p) => `heap ${p.heap.usedMiB}/${p.heap.totalMiB} MiB used/total (new space ${p.heap.spaces.new?.totalMiB ?? '?'}, old ${p.heap.spaces.old?.totalMiB ?? '?'}), external ${p.heap.externalMiB} MiB; RSS anon ${p.rssParts.anonMiB}, file ${p.rssParts.fileMiB} MiB`;
console.log(`\n${pad('memory (gateway VmRSS)', 44)}${pad('median', 10)}${pad('peak', 10)}beside`);
console.log(`${pad(`A: ${results.tagsPerSecond} tags/s, no backlog`, 44)}${pad(`${a.rssMedianMiB} MiB`, 10)}${pad(`${a.rssPeakMiB} MiB`, 10)}${heapLine(a)}`);
console.log(`${pad(`B: the same, ${b.backlogAtStart} records draining`, 44)}${pad(`${b.rssMedianMiB} MiB`, 10)}${pad(`${b.rssPeakMiB} MiB`, 10)}${heapLine(b)}`);
console.log(`${pad('B: drain rate', 44)}${pad(b.drainRecordsPerSec ?? 'timeout', 10)}${pad('', 10)}records/s (${Math.round(b.seconds)} s), live capture ${a.samplesPerSec} samples/s in A`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', 'memory.json');
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nnode flags ${flags.join(' ') || '(none)'}, environment ${envText || '(none)'}; medians of ${a.samples} and ${b.samples} samples ${SAMPLE_MS} ms apart; JSON in ${out}`);
if (existsSync(out)) process.exit(0);
