// `npm run bench`, second part: the Modbus TCP driver. Two benchmarks, each beside a baseline measured in the
// same run against the same simulated PLCs, served from a worker thread of this process so that the PLC side does
// not queue on the gateway's event loop (the bench's own lean server; BENCH_PLC=sim-plc for scripts/sim-plc.mjs):
//
// 1. One PLC with 10,000 tags of mixed types spread over the address space: poll it through the driver, decode,
//    run the tag model (birth, then changes), build the journal record and commit it to a real journal file.
//    Baselines: a bare modbus-serial client reading the same blocks without decoding (the wire), and bare
//    better-sqlite3 inserts of the same records, one transaction per poll as the journal commits them.
// 2. 100 PLCs × 100 tags, each PLC its own server on its own port, all polled concurrently by the edge's Poller at
//    a short interval, with the tag model and the journal behind it as in the gateway. Baseline: the same reads by
//    100 bare modbus-serial clients at once.
//
// Medians (and p95 for times); a table on screen and JSON in bench-results/drivers.json (or $BENCH_DRIVERS_OUT).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { serveModbusTcp } from './modbus-frames.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const ROUNDS = env('BENCH_ROUNDS', 5);
const BIG_TAGS = env('BENCH_DRIVER_TAGS', 10_000);
const BIG_POLLS = env('BENCH_DRIVER_POLLS', 10);
const FLEET_DEVICES = env('BENCH_FLEET_DEVICES', 100);
const FLEET_TAGS = env('BENCH_FLEET_TAGS', 100);
const FLEET_CYCLES = env('BENCH_FLEET_CYCLES', 20);
const FLEET_PERIOD_MS = env('BENCH_FLEET_PERIOD_MS', 200);
/** Share of the tags whose value changes between two polls. */
const CHANGE = env('BENCH_CHANGE', 0.1);
const FLEET_WARMUP = 2;
/** `lean` (default): the bench's own Modbus server; `sim-plc`: modbus-serial's ServerTCP, as in the tests. */
const PLC = process.env.BENCH_PLC ?? 'lean';
const OUT = process.env.BENCH_DRIVERS_OUT ?? join(root, 'bench-results', 'drivers.json');

// ---------------------------------------------------------------------------------------------------------------
// The register map: a fifth coils, the rest half holding, half input registers, cycling uint16, int32, float32,
// float64. Registers come in runs of 40 tags (90 registers, one request each), coils in runs of 100, and the runs
// are spread over the whole address space, so the planner makes many block reads.

const REGISTER_TYPES = ['uint16', 'int32', 'float32', 'float64'];
const WIDTH = { uint16: 1, int32: 2, float32: 2, float64: 4, bool: 1 };
const REGISTER_RUN = 40;
const COIL_RUN = 100;

function registerMap(count) {
  const coils = Math.round(count / 5);
  const holding = Math.ceil((count - coils) / 2);
  const input = count - coils - holding;
  const tags = [];
  const place = (table, n, runLength, typeOf, prefix) => {
    const runs = Math.ceil(n / runLength);
    const runSpan = Math.ceil(runLength * (table === 'coil' ? 1 : 2.25));
    // Runs as far apart as the address space allows, and never closer than max_gap can bridge.
    const stride = Math.max(runSpan + 16, Math.floor((65_000 - runSpan) / Math.max(1, runs - 1)));
    let address = 0;
    for (let i = 0; i < n; i++) {
      if (i % runLength === 0) address = Math.floor(i / runLength) * stride;
      const type = typeOf(i);
      tags.push({ name: `${prefix}${i}_${type}`, table, address, type });
      address += WIDTH[type];
    }
  };
  place('holding', holding, REGISTER_RUN, (i) => REGISTER_TYPES[i % 4], 'h');
  place('input', input, REGISTER_RUN, (i) => REGISTER_TYPES[i % 4], 'i');
  place('coil', coils, COIL_RUN, () => 'bool', 'c');
  return tags;
}

// ---------------------------------------------------------------------------------------------------------------
// The PLC side, in a worker thread: simulated PLCs that all hold the same register map, and a way to change a
// share of the values between polls.

/**
 * A lean Modbus TCP server for FC1-FC4, answering at once from typed arrays. modbus-serial's ServerTCP (the
 * simulator of the tests and the demo) defers every request by a setTimeout(0), about 1 ms: against it a poll
 * measures that timer more than the gateway. Same interface as sim-plc.mjs for what is used here.
 */
async function startLeanPlc() {
  const banks = { holding: new Uint16Array(0x10000), input: new Uint16Array(0x10000), coil: new Uint8Array(0x10000), discrete: new Uint8Array(0x10000) };
  const TABLE = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };
  const server = await serveModbusTcp((req) => {
    const fc = req[0];
    const table = TABLE[fc];
    const start = req.readUInt16BE(1);
    const count = req.readUInt16BE(3);
    const bits = fc <= 2;
    const exception = (code) => Buffer.from([fc | 0x80, code]);
    if (!table) return exception(1);
    if (count < 1 || count > (bits ? 2000 : 125)) return exception(3);
    if (start + count > 0x10000) return exception(2);
    const bytes = bits ? Math.ceil(count / 8) : 2 * count;
    const pdu = Buffer.alloc(2 + bytes);
    pdu[0] = fc;
    pdu[1] = bytes;
    const bank = banks[table];
    if (bits) for (let i = 0; i < count; i++) pdu[2 + (i >> 3)] |= bank[start + i] << (i & 7);
    else for (let i = 0; i < count; i++) pdu.writeUInt16BE(bank[start + i], 2 + 2 * i);
    return pdu;
  });
  return {
    ...server,
    setHolding: (addr, words) => banks.holding.set(words, addr),
    setInput: (addr, words) => banks.input.set(words, addr),
    setCoil: (addr, on) => (banks.coil[addr] = on ? 1 : 0),
    getCoil: (addr) => banks.coil[addr] === 1,
  };
}

async function servePlcs() {
  const start = PLC === 'sim-plc' ? await import('./sim-plc.mjs').then((m) => () => m.startSimulatedPlc({ port: 0 })) : startLeanPlc;
  const plcs = [];
  let tags = [];
  let version = 0;
  let ticker;
  const buf = Buffer.alloc(8);
  const words = (n) => Array.from({ length: n }, (_, k) => buf.readUInt16BE(2 * k));
  const write = (plc, tag, v) => {
    if (tag.table === 'coil') return plc.setCoil(tag.address, !plc.getCoil(tag.address));
    let w;
    if (tag.type === 'uint16') w = [v & 0xffff];
    else if (tag.type === 'int32') (buf.writeInt32BE(v | 0), (w = words(2)));
    else if (tag.type === 'float32') (buf.writeFloatBE(v / 8), (w = words(2)));
    else (buf.writeDoubleBE(v / 3), (w = words(4)));
    (tag.table === 'holding' ? plc.setHolding : plc.setInput).call(plc, tag.address, w);
  };
  /** Every `step`-th tag, a different set each time, gets a new value. */
  const mutate = (fraction) => {
    version += 1;
    const step = Math.max(1, Math.round(1 / fraction));
    for (const plc of plcs) {
      for (let i = version % step; i < tags.length; i += step) write(plc, tags[i], i * 10 + version);
    }
  };
  const ops = {
    async start({ map, count }) {
      tags = map;
      for (let n = 0; n < count; n++) {
        const plc = await start();
        tags.forEach((t, i) => write(plc, t, i * 10));
        plcs.push(plc);
      }
      return plcs.map((p) => p.port);
    },
    mutate: ({ fraction }) => mutate(fraction),
    every({ ms, fraction }) {
      clearInterval(ticker);
      if (ms > 0) ticker = setInterval(() => mutate(fraction), ms);
    },
    async stop() {
      clearInterval(ticker);
      await Promise.all(plcs.splice(0).map((p) => p.close()));
    },
  };
  parentPort.on('message', async ({ id, op, args }) => {
    try {
      parentPort.postMessage({ id, result: await ops[op](args) });
    } catch (err) {
      parentPort.postMessage({ id, error: err.stack ?? String(err) });
    }
  });
}

function startPlcWorker() {
  const worker = new Worker(fileURLToPath(import.meta.url));
  const waiting = new Map();
  let next = 0;
  worker.on('message', ({ id, result, error }) => {
    const w = waiting.get(id);
    waiting.delete(id);
    if (error) w.reject(new Error(`simulated PLCs: ${error}`));
    else w.resolve(result);
  });
  const fail = (err) => {
    waiting.forEach((w) => w.reject(err));
    waiting.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`simulated PLCs: the worker thread exited (${code})`)));
  return {
    call: (op, args) => new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, op, args });
    }),
    terminate: () => worker.terminate(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The gateway side.

async function main() {
  const [{ default: Database }, { default: ModbusRTU }, { pino }, { createDriver }, { planReads, extractReadings }, { parseConfig }, { tagDefsOf, pollerOptions, pollHandlers }, { DeviceTagModel }, { toJournalEntry }, { Journal }, { Poller }, { scheduleFor }, { renderJson }] = await Promise.all([
    import('better-sqlite3'),
    import('modbus-serial'),
    import('pino'),
    import('../dist/drivers/registry.js'),
    import('../dist/drivers/modbus/plan.js'),
    import('../dist/edge/config/load.js'),
    import('../dist/edge/gateway/devices.js'),
    import('../dist/edge/tag-model.js'),
    import('../dist/edge/journal-record.js'),
    import('../dist/uplink/journal/journal.js'),
    import('../dist/edge/poller.js'),
    import('../dist/edge/schedule.js'),
    import('../dist/uplink/journal/compact.js'),
  ]);
  const silent = pino({ level: 'silent' });
  const now = () => performance.now();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const tmp = () => mkdtempSync(join(tmpdir(), 'bench-drivers-'));
  const configFor = (devices) => parseConfig(JSON.stringify({ site: { group: 'bench', node: 'gw' }, devices }), '<bench>').devices;

  async function bareClient(port) {
    const client = new ModbusRTU();
    client.on('error', () => undefined);
    await client.connectTCP('127.0.0.1', { port, timeout: 5000 });
    client.setID(1);
    client.setTimeout(10_000);
    return client;
  }
  const READ = {
    holding: (c, b) => c.readHoldingRegisters(b.start, b.count),
    input: (c, b) => c.readInputRegisters(b.start, b.count),
    coil: (c, b) => c.readCoils(b.start, b.count),
    discrete: (c, b) => c.readDiscreteInputs(b.start, b.count),
  };
  /** One poll's requests in turn, as the driver sends them; the answers, block by block. */
  const readAll = async (client, plan) => {
    const answers = [];
    for (const block of plan) answers.push((await READ[block.table](client, block)).data);
    return answers;
  };
  const closeClient = (client) => new Promise((r) => client.close(r));

  /** The Kafka value of a captured entry: its JSON, as the journal writes it on the way out. */
  const jsonOf = (e) => e.value ?? renderJson(e.message);

  /** Bare better-sqlite3: a plain table of the same records as JSON text, one transaction per poll. */
  function rawInsert(entries) {
    const rows = entries.map((e) => ({ capturedAt: e.capturedAt, key: e.key, type: e.type, value: jsonOf(e) }));
    const dir = tmp();
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL) STRICT');
    const insert = db.prepare('INSERT INTO records (seq, captured_at, key, type, value) VALUES (?, ?, ?, ?, ?)');
    const one = db.transaction((e, seq) => insert.run(seq, e.capturedAt, e.key, e.type, e.value));
    const t0 = now();
    rows.forEach((e, i) => one(e, i + 1));
    const ms = now() - t0;
    db.close();
    rmSync(dir, { recursive: true, force: true });
    return ms;
  }

  const plcs = startPlcWorker();
  const results = {
    when: new Date().toISOString(),
    rounds: ROUNDS,
    change: CHANGE,
    plc: PLC === 'sim-plc' ? 'modbus-serial ServerTCP (scripts/sim-plc.mjs)' : 'the bench\'s lean Modbus TCP server',
    where: 'in a worker thread of the bench process, 127.0.0.1',
    ratios: 'gateway / baseline, the median of the per-round ratios',
  };
  try {
    results.bigDevice = await bigDevice();
    await plcs.call('stop');
    results.fleet = await fleet();
    await plcs.call('stop');
  } finally {
    await plcs.terminate();
  }
  return results;

  // -------------------------------------------------------------------------------------------------------------
  async function bigDevice() {
    const map = registerMap(BIG_TAGS);
    const [port] = await plcs.call('start', { map, count: 1 });
    const [device] = configFor([{ name: 'big-plc', driver: 'modbus-tcp', host: '127.0.0.1', port, timeout: '60s', request_timeout: '10s', tags: map }]);
    const plan = planReads(device.tags, device.max_gap);
    const defs = tagDefsOf(device);
    const driver = createDriver(device, { log: silent });
    await driver.connect();
    const wire = await bareClient(port);
    const signal = new AbortController().signal;

    // Warm-up: JIT, connections, the simulator's first answers.
    for (let i = 0; i < 2; i++) {
      await driver.poll(signal);
      await readAll(wire, plan);
    }

    const rounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      let wireMs = 0;
      let answers;
      for (let p = 0; p < BIG_POLLS; p++) {
        await plcs.call('mutate', { fraction: CHANGE });
        const t0 = now();
        answers = await readAll(wire, plan);
        wireMs += now() - t0;
      }
      // The driver's decoding alone, on the answers just read: no I/O.
      const t0 = now();
      for (let p = 0; p < BIG_POLLS; p++) plan.forEach((block, k) => extractReadings(block, answers[k]));
      const decodeMs = now() - t0;

      const dir = tmp();
      const journal = new Journal(join(dir, 'journal.db'));
      const model = new DeviceTagModel(defs);
      const entries = [];
      let pollMs = 0;
      let modelMs = 0;
      let buildMs = 0;
      let commitMs = 0;
      let metrics = 0;
      for (let p = 0; p < BIG_POLLS; p++) {
        await plcs.call('mutate', { fraction: CHANGE });
        const t0 = now();
        const samples = await driver.poll(signal);
        const t1 = now();
        const changed = p === 0 ? model.birth(samples) : model.changes(samples);
        const t2 = now();
        const entry = toJournalEntry('bench', 'gw', { kind: p === 0 ? 'DBIRTH' : 'DDATA', device: device.name, payload: { timestamp: Date.now(), metrics: changed } });
        const t3 = now();
        await new Promise((resolve) => journal.enqueue(entry, resolve));
        const t4 = now();
        if (samples.length !== map.length || samples.some((s) => s.quality !== 'good')) throw new Error(`big-plc: ${samples.length} samples, expected ${map.length} good ones`);
        pollMs += t1 - t0;
        modelMs += t2 - t1;
        buildMs += t3 - t2;
        commitMs += t4 - t3;
        metrics += changed.length;
        entries.push(entry);
      }
      const records = journal.stats().records;
      journal.close();
      rmSync(dir, { recursive: true, force: true });
      if (records !== BIG_POLLS) throw new Error(`big-plc: the journal holds ${records} records, expected ${BIG_POLLS}`);
      const rawMs = rawInsert(entries);
      const totalMs = pollMs + modelMs + buildMs + commitMs;
      rounds.push({
        ratio: wireMs / totalMs,
        pollVsWire: pollMs / wireMs,
        commitVsRawInsert: commitMs / rawMs,
        tagsPerSecond: (BIG_POLLS * map.length) / (totalMs / 1000),
        wireTagsPerSecond: (BIG_POLLS * map.length) / (wireMs / 1000),
        pollMs: pollMs / BIG_POLLS,
        wireMs: wireMs / BIG_POLLS,
        decodeMs: decodeMs / BIG_POLLS,
        modelMs: modelMs / BIG_POLLS,
        buildMs: buildMs / BIG_POLLS,
        commitMs: commitMs / BIG_POLLS,
        rawInsertMs: rawMs / BIG_POLLS,
        metricsJournaled: metrics,
        bytesJournaled: entries.reduce((n, e) => n + e.key.length + jsonOf(e).length, 0),
      });
    }
    await driver.close();
    await closeClient(wire);

    const med = (k) => median(rounds.map((x) => x[k]));
    const counts = {};
    for (const t of map) counts[t.type] = (counts[t.type] ?? 0) + 1;
    const requests = {};
    for (const b of plan) requests[b.table] = (requests[b.table] ?? 0) + 1;
    return {
      tags: map.length,
      types: counts,
      requestsPerPoll: plan.length,
      requestsByTable: requests,
      pollsPerRound: BIG_POLLS,
      tagsPerSecond: Math.round(med('tagsPerSecond')),
      wireTagsPerSecond: Math.round(med('wireTagsPerSecond')),
      ratio: round2(med('ratio')),
      msPerPoll: { pollAndDecode: round2(med('pollMs')), wire: round2(med('wireMs')), decodeOnly: round2(med('decodeMs')), tagModel: round2(med('modelMs')), buildRecord: round2(med('buildMs')), commit: round2(med('commitMs')), rawInsert: round2(med('rawInsertMs')) },
      pollVsWire: round2(med('pollVsWire')),
      commitVsRawInsert: round2(med('commitVsRawInsert')),
      rounds: rounds.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round2(v)]))),
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  async function fleet() {
    const map = registerMap(FLEET_TAGS);
    const ports = await plcs.call('start', { map, count: FLEET_DEVICES });
    const devices = configFor(ports.map((port, n) => ({ name: `plc-${String(n).padStart(3, '0')}`, driver: 'modbus-tcp', host: '127.0.0.1', port, poll: FLEET_PERIOD_MS, tags: map })));
    const plan = planReads(devices[0].tags, devices[0].max_gap);
    const bare = await Promise.all(ports.map(bareClient));
    await plcs.call('every', { ms: FLEET_PERIOD_MS, fraction: CHANGE });

    const pooled = { bare: { cycles: [], polls: [] }, together: { cycles: [], polls: [] }, free: { cycles: [], polls: [], spreads: [], periods: [] } };
    const perRound = [];
    let overruns = 0;
    let errors = 0;
    let metrics = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const b = await bareRound(bare, plan);
      const g = await gatewayRound(devices);
      overruns += g.overruns;
      errors += g.errors;
      metrics += g.metrics;
      for (const [into, from] of [[pooled.bare, b], [pooled.together, g.together], [pooled.free, g.free]]) {
        for (const k of Object.keys(into)) into[k].push(...from[k]);
      }
      perRound.push({
        cycleVsBare: median(g.together.cycles) / median(b.cycles),
        cycleP95VsBare: p95(g.together.cycles) / p95(b.cycles),
        devicePollVsBare: median(g.together.polls) / median(b.polls),
        bareCycleMs: round2(median(b.cycles)), cycleMs: round2(median(g.together.cycles)), freeRunningDevicePollMs: round2(median(g.free.polls)), freeRunningPeriodMs: round2(median(g.free.periods)) });
    }
    await plcs.call('every', { ms: 0 });
    await Promise.all(bare.map(closeClient));

    const stats = (xs) => ({ median: round2(median(xs)), p95: round2(p95(xs)) });
    const cycle = median(pooled.together.cycles);
    return {
      devices: devices.length,
      tagsPerDevice: map.length,
      requestsPerDevicePoll: plan.length,
      servers: `${devices.length} servers, one port each`,
      periodMs: FLEET_PERIOD_MS,
      cyclesPerRound: FLEET_CYCLES,
      together: {
        cycleMs: stats(pooled.together.cycles),
        devicePollMs: stats(pooled.together.polls),
        bareCycleMs: stats(pooled.bare.cycles),
        bareDevicePollMs: stats(pooled.bare.polls),
        cycleVsBare: round2(median(perRound.map((x) => x.cycleVsBare))),
        cycleP95VsBare: round2(median(perRound.map((x) => x.cycleP95VsBare))),
        devicePollVsBare: round2(median(perRound.map((x) => x.devicePollVsBare))),
        tagsPerSecond: Math.round((devices.length * map.length) / (cycle / 1000)),
      },
      freeRunning: {
        devicePollMs: stats(pooled.free.polls),
        periodMs: { ...stats(pooled.free.periods), max: round2(Math.max(...pooled.free.periods)) },
        cycleMs: stats(pooled.free.cycles),
        startSpreadMs: stats(pooled.free.spreads),
      },
      metricsJournaled: metrics,
      overruns,
      errors,
      rounds: perRound.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round2(v)]))),
    };
  }

  /** Every period, all bare clients read their blocks at once; a cycle ends when the last one is done. */
  async function bareRound(clients, plan) {
    const cycles = [];
    const polls = [];
    const grid = now();
    for (let k = 0; k < FLEET_WARMUP + FLEET_CYCLES; k++) {
      await sleep(Math.max(0, grid + k * FLEET_PERIOD_MS - now()));
      const t0 = now();
      const durations = await Promise.all(clients.map(async (c) => {
        const s = now();
        await readAll(c, plan);
        return now() - s;
      }));
      if (k < FLEET_WARMUP) continue;
      cycles.push(now() - t0);
      polls.push(...durations);
    }
    return { cycles, polls };
  }

  /**
   * The gateway's way: per device a driver, a tag model and a Poller, one journal for all, as in src/edge/gateway/.
   * First the cycles with every Poller started at the same instant (one poll each, then stopped): from the first
   * poll starting to the last one finishing, comparable with the bare clients. Then free-running Pollers every
   * period: each keeps its own schedule, so they drift apart; cycle k is every device's k-th poll.
   */
  async function gatewayRound(devices) {
    const dir = tmp();
    const journal = new Journal(join(dir, 'journal.db'));
    let metrics = 0;
    let record = () => undefined;
    const runtimes = devices.map((device, n) => {
      const driver = createDriver(device, { log: silent });
      const model = new DeviceTagModel(tagDefsOf(device));
      let born = false;
      const capture = (kind, changed) => {
        metrics += changed.length;
        journal.enqueue(toJournalEntry('bench', 'gw', { kind, device: device.name, payload: { timestamp: Date.now(), metrics: changed } }));
      };
      // The gateway's poll handlers; in place of the Sparkplug edge node, its capture into the journal (no MQTT).
      const node = {
        isOnline: () => born,
        deviceOnline: (_name, changed) => {
          born = true;
          capture('DBIRTH', changed);
        },
        deviceData: (_name, changed) => capture('DDATA', changed),
        deviceOffline: () => (born = false),
      };
      return {
        device,
        driver,
        // A Poller closes its driver when stopped; here the connection outlives the Pollers of one round.
        timed: {
          connect: () => driver.connect(),
          close: async () => undefined,
          async poll(signal) {
            const s = now();
            const samples = await driver.poll(signal);
            record(n, s, now());
            return samples;
          },
        },
        handlers: pollHandlers(device.name, model, node),
      };
    });
    await Promise.all(runtimes.map((d) => d.driver.connect()));

    /** Runs one Poller per device until each has `want` polls; the start and end of every poll, per device. */
    async function runPollers(periodMs, want) {
      const timings = runtimes.map(() => []);
      let complete = 0;
      let allDone;
      const finished = new Promise((r) => (allDone = r));
      record = (n, s, e) => {
        timings[n].push([s, e]);
        if (timings[n].length === want && ++complete === runtimes.length) allDone();
      };
      const pollers = runtimes.map((d) => new Poller(d.device.name, d.timed, { ...pollerOptions(d.device), schedule: scheduleFor({ kind: 'interval', ms: periodMs }) }, d.handlers, silent));
      pollers.forEach((p) => p.start());
      let timer;
      const late = new Promise((r) => (timer = setTimeout(() => r('late'), want * FLEET_PERIOD_MS * 5 + 30_000)));
      const outcome = await Promise.race([finished, late]);
      clearTimeout(timer);
      const statuses = pollers.map((p) => p.status());
      await Promise.all(pollers.map((p) => p.stop()));
      if (outcome === 'late') {
        const behind = timings.filter((t) => t.length < want).length;
        throw new Error(`fleet: ${behind} of ${runtimes.length} devices did not complete ${want} polls in time; last errors: ${statuses.map((s) => s.lastError).filter(Boolean).slice(0, 3).join(' | ')}`);
      }
      return { timings, statuses };
    }

    const together = { cycles: [], polls: [] };
    const free = { cycles: [], polls: [], spreads: [], periods: [] };
    let overruns = 0;
    let errors = 0;
    const grid = now();
    for (let k = 0; k < FLEET_WARMUP + FLEET_CYCLES; k++) {
      await sleep(Math.max(0, grid + k * FLEET_PERIOD_MS - now()));
      const { timings, statuses } = await runPollers(3_600_000, 1);
      errors += statuses.reduce((n, s) => n + s.errors, 0);
      if (k < FLEET_WARMUP) continue;
      together.cycles.push(Math.max(...timings.map((t) => t[0][1])) - Math.min(...timings.map((t) => t[0][0])));
      together.polls.push(...timings.map((t) => t[0][1] - t[0][0]));
    }

    const want = FLEET_WARMUP + FLEET_CYCLES;
    const { timings, statuses } = await runPollers(FLEET_PERIOD_MS, want);
    overruns += statuses.reduce((n, s) => n + s.overruns, 0);
    errors += statuses.reduce((n, s) => n + s.errors, 0);
    for (let k = FLEET_WARMUP; k < want; k++) {
      const starts = timings.map((t) => t[k][0]);
      free.cycles.push(Math.max(...timings.map((t) => t[k][1])) - Math.min(...starts));
      free.spreads.push(Math.max(...starts) - Math.min(...starts));
      free.polls.push(...timings.map((t) => t[k][1] - t[k][0]));
    }
    // The interval a device really kept: first to last measured poll start, per poll.
    if (FLEET_CYCLES > 1) free.periods.push(...timings.map((t) => (t[want - 1][0] - t[FLEET_WARMUP][0]) / (FLEET_CYCLES - 1)));

    await Promise.all(runtimes.map((d) => d.driver.close()));
    journal.flush();
    journal.close();
    rmSync(dir, { recursive: true, force: true });
    return { together, free, metrics, overruns, errors };
  }
}

// ---------------------------------------------------------------------------------------------------------------

function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}
function p95(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}
function round2(x) {
  return Number(x.toFixed(2));
}

function printTable({ bigDevice: b, fleet: f }) {
  const t = f.together;
  const r = f.freeRunning;
  const pad = (s, n) => String(s).padEnd(n);
  const rows = [
    [`${b.tags} tags, decoded+journaled`, `${b.tagsPerSecond} tags/s`, `${b.wireTagsPerSecond} tags/s`, b.ratio, `bare modbus-serial reads of the same ${b.requestsPerPoll} blocks, no decoding`],
    ['  poll: wire + decode', `${b.msPerPoll.pollAndDecode} ms/poll`, `${b.msPerPoll.wire} ms/poll`, b.pollVsWire, 'the same bare reads'],
    ['    of which decoding (no I/O)', `${b.msPerPoll.decodeOnly} ms/poll`, '', '', 'the driver\'s decoding run on the answers of the bare reads'],
    ['  tag model', `${b.msPerPoll.tagModel} ms/poll`, '', '', ''],
    ['  journal record (JSON)', `${b.msPerPoll.buildRecord} ms/poll`, '', '', ''],
    ['  journal commit', `${b.msPerPoll.commit} ms/poll`, `${b.msPerPoll.rawInsert} ms/poll`, b.commitVsRawInsert, 'bare better-sqlite3 inserts of the same records as JSON'],
    [`${f.devices}×${f.tagsPerDevice} poll cycle, median`, `${t.cycleMs.median} ms`, `${t.bareCycleMs.median} ms`, t.cycleVsBare, `${f.devices} bare modbus-serial clients at once`],
    ['  poll cycle, p95', `${t.cycleMs.p95} ms`, `${t.bareCycleMs.p95} ms`, t.cycleP95VsBare, ''],
    ['  one device poll, median', `${t.devicePollMs.median} ms`, `${t.bareDevicePollMs.median} ms`, t.devicePollVsBare, ''],
    [`every ${f.periodMs} ms: device poll med/p95`, `${r.devicePollMs.median} / ${r.devicePollMs.p95} ms`, '', '', 'free-running Pollers, drifting apart'],
    ['  interval kept, med/max', `${r.periodMs.median} / ${r.periodMs.max} ms`, `${f.periodMs} ms`, round2(r.periodMs.median / f.periodMs), 'the configured poll interval'],
    ['  k-th poll of all, med/p95', `${r.cycleMs.median} / ${r.cycleMs.p95} ms`, '', '', `of which start spread ${r.startSpreadMs.median} ms (median)`],
  ];
  console.log(`\n${pad('benchmark', 38)}${pad('gateway', 20)}${pad('baseline', 20)}${pad('ratio', 7)}baseline`);
  for (const r of rows) console.log(`${pad(r[0], 38)}${pad(r[1], 20)}${pad(r[2], 20)}${pad(r[3], 7)}${r[4]}`);
  console.log(
    `\n${b.tags} tags: ${b.requestsPerPoll} requests per poll, ${b.pollsPerRound} polls per round (a birth, then ${Math.round(CHANGE * 100)} % of the values change per poll).` +
      `\n${f.devices} devices (${f.servers}), ${f.requestsPerDevicePoll} requests per device poll, ${f.cyclesPerRound} cycles per round; all at once: a Poller per device started at the same instant, one poll each; ${f.overruns} overruns, ${f.errors} errors.`,
  );
}

if (isMainThread) {
  const results = await main();
  printTable(results);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(results, null, 2));
  console.log(`${results.plc}, ${results.where}. ${ROUNDS} rounds; medians; ratio = gateway / baseline, median of the per-round ratios; JSON in ${OUT}`);
  process.exit(0);
} else {
  await servePlcs();
}
