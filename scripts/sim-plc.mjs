// A simulated Modbus TCP PLC: in-memory banks served by modbus-serial's ServerTCP, for tests and the demo.
// `node scripts/sim-plc.mjs [--port 5020]` runs the demo PLC (a temperature, a counter and a running flag).
import net from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import modbus from 'modbus-serial';

const SIZE = 0x10000;
// ServerTCP enforces neither limit; a real PLC answers exception 3, and the driver's planner must not provoke it.
const MAX_REGISTERS = 125;
const ILLEGAL_ADDRESS = 2;
const ILLEGAL_VALUE = 3;

const modbusError = (code, msg) => Object.assign(new Error(msg), { modbusErrorCode: code });

function checkRange(addr, count, max = SIZE) {
  if (count > max) throw modbusError(ILLEGAL_VALUE, `${count} is more than ${max} per request`);
  if (addr < 0 || addr + count > SIZE) throw modbusError(ILLEGAL_ADDRESS, `${addr}+${count} is past the last address`);
}

function checkWords(words) {
  for (const w of words) {
    if (!Number.isInteger(w) || w < 0 || w > 0xffff) throw new RangeError(`${w} is not a 16-bit register value`);
  }
}

/** Initial contents: an array from address 0, or `{ address: value | values[] }`. */
function fill(bank, initial, toCell) {
  if (!initial) return;
  const entries = Array.isArray(initial) ? [[0, initial]] : Object.entries(initial);
  for (const [addr, values] of entries) {
    const list = Array.isArray(values) ? values : [values];
    list.forEach((v, i) => (bank[Number(addr) + i] = toCell(v)));
  }
}

// ServerTCP treats port 0 as "use 502", so a free port is found first (tests run in parallel).
function freePort(host) {
  return new Promise((done, fail) => {
    const probe = net.createServer();
    probe.once('error', fail);
    probe.listen({ port: 0, host }, () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/**
 * Starts a simulated PLC. `port: 0` picks a free port (read it back from the result). `unitId` makes it answer
 * only that unit id, silently, like a gateway with nothing behind it; without it every unit id is answered.
 * `illegal: { holding: [5, 6] }` makes reads touching those addresses answer exception 2, like a PLC whose
 * register map has holes. `demo: true` also runs the demo process values. `delay` (ms) makes every answer that
 * late, like a slow PLC or a congested serial gateway; `setDelay()` changes it while running.
 */
export async function startSimulatedPlc({ port = 5020, host = '127.0.0.1', unitId, holding, input, coils, discrete, illegal = {}, demo = false, delay = 0 } = {}) {
  const banks = { holding: new Uint16Array(SIZE), input: new Uint16Array(SIZE), coils: new Uint8Array(SIZE), discrete: new Uint8Array(SIZE) };
  const word = (v) => (checkWords([v]), v);
  const bit = (v) => (v ? 1 : 0);
  fill(banks.holding, holding, word);
  fill(banks.input, input, word);
  fill(banks.coils, coils, bit);
  fill(banks.discrete, discrete, bit);

  let paused = false;
  let delayMs = delay;
  /** Responses sent, by function code (exception responses count under the code they answer). */
  const requests = {};
  /** Arrival time (ms since the epoch) of every request frame, the latest 10,000. */
  const requestLog = [];

  // While paused the callback is never called: ServerTCP then sends nothing and the request is forgotten,
  // which is what a hung PLC with a live TCP stack looks like. Writes are not applied either.
  const answer = (cb, fn) => {
    if (paused) return;
    if (delayMs > 0) {
      setTimeout(() => respond(cb, fn), delayMs);
      return;
    }
    respond(cb, fn);
  };
  const respond = (cb, fn) => {
    if (paused) return;
    let value;
    try {
      value = fn();
    } catch (err) {
      return cb(err);
    }
    cb(null, value);
  };
  const holes = (table) => new Set(illegal[table] ?? []);
  const missing = { holding: holes('holding'), input: holes('input'), coils: holes('coils'), discrete: holes('discrete') };
  const checkHoles = (table, addr, count) => {
    for (let a = addr; a < addr + count; a++) {
      if (missing[table].has(a)) throw modbusError(ILLEGAL_ADDRESS, `${table} ${a} does not exist`);
    }
  };
  const readWords = (bank, addr, count, table) => {
    checkRange(addr, count, MAX_REGISTERS);
    checkHoles(table, addr, count);
    return Array.from(bank.subarray(addr, addr + count));
  };
  const readBit = (bank, addr) => {
    checkRange(addr, 1);
    return bank[addr] === 1;
  };

  const vector = {
    getHoldingRegister: (addr, _unit, cb) => answer(cb, () => readWords(banks.holding, addr, 1, 'holding')[0]),
    getMultipleHoldingRegisters: (addr, count, _unit, cb) => answer(cb, () => readWords(banks.holding, addr, count, 'holding')),
    getInputRegister: (addr, _unit, cb) => answer(cb, () => readWords(banks.input, addr, 1, 'input')[0]),
    getMultipleInputRegisters: (addr, count, _unit, cb) => answer(cb, () => readWords(banks.input, addr, count, 'input')),
    getCoil: (addr, _unit, cb) => answer(cb, () => readBit(banks.coils, addr)),
    getDiscreteInput: (addr, _unit, cb) => answer(cb, () => readBit(banks.discrete, addr)),
    setCoil: (addr, value, _unit, cb) =>
      answer(cb, () => {
        checkRange(addr, 1);
        banks.coils[addr] = bit(value);
      }),
    setRegister: (addr, value, _unit, cb) =>
      answer(cb, () => {
        checkRange(addr, 1);
        banks.holding[addr] = value;
      }),
    setRegisterArray: (addr, values, _unit, cb) =>
      answer(cb, () => {
        checkRange(addr, values.length, 123);
        banks.holding.set(values, addr);
      }),
  };

  const listenPort = port === 0 ? await freePort(host) : port;
  const server = new modbus.ServerTCP(vector, { host, port: listenPort, unitID: unitId });
  const sockets = new Set();
  let accepted = 0;
  server.on('error', () => undefined);
  server.on('socketError', () => undefined); // a client that resets its connection is normal here
  server._server.on('connection', (sock) => {
    accepted += 1;
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    // Log arrivals at the socket, one entry per Modbus TCP frame (MBAP length field), before any delay or pause.
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      const at = Date.now();
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 6 && pending.length >= 6 + pending.readUInt16BE(4)) {
        pending = pending.subarray(6 + pending.readUInt16BE(4));
        requestLog.push(at);
      }
      if (requestLog.length > 10_000) requestLog.splice(0, requestLog.length - 10_000);
    });
    const write = sock.write.bind(sock);
    // Count at the socket: ServerTCP calls the vector once per bit for coils, so the vector cannot count requests.
    sock.write = (frame, ...rest) => {
      if (Buffer.isBuffer(frame) && frame.length > 7) {
        const fc = frame[7] & 0x7f;
        requests[fc] = (requests[fc] ?? 0) + 1;
      }
      return write(frame, ...rest);
    };
  });
  await new Promise((done, fail) => {
    server.once('initialized', done);
    server.once('serverError', (err) => {
      server._server.close();
      fail(new Error(`simulated PLC: cannot listen on ${host}:${listenPort}: ${err.code === 'EADDRINUSE' ? 'port in use' : err.message}`));
    });
  });

  const timers = [];
  let closing;
  const plc = {
    port: listenPort,
    host,
    requests,
    requestLog,
    setHolding(addr, words) {
      checkWords(words);
      banks.holding.set(words, addr);
    },
    setInput(addr, words) {
      checkWords(words);
      banks.input.set(words, addr);
    },
    setCoil(addr, value) {
      banks.coils[addr] = bit(value);
    },
    setDiscrete(addr, value) {
      banks.discrete[addr] = bit(value);
    },
    getHolding(addr, count = 1) {
      return Array.from(banks.holding.subarray(addr, addr + count));
    },
    getCoil(addr) {
      return banks.coils[addr] === 1;
    },
    /** Big-endian float, high word first ("ABCD"), in holding addr and addr+1. */
    writeFloat32(addr, value) {
      const buf = Buffer.alloc(4);
      buf.writeFloatBE(value);
      banks.holding.set([buf.readUInt16BE(0), buf.readUInt16BE(2)], addr);
    },
    /** true: stop answering (requests are swallowed, the TCP connection stays up); false: answer again. */
    pause(on = true) {
      paused = Boolean(on);
    },
    /** Every answer `ms` late from now on (0: at once). */
    setDelay(ms) {
      delayMs = ms;
    },
    /** How many clients are connected right now. */
    get connections() {
      return sockets.size;
    },
    /** How many connections it ever accepted. */
    get accepted() {
      return accepted;
    },
    close() {
      closing ??= new Promise((done) => {
        timers.forEach((t) => clearInterval(t));
        // ServerTCP.close destroys the sockets it tracks; ours are destroyed too in case one slipped past it.
        server.close(() => done());
        for (const sock of sockets) sock.destroy();
      });
      return closing;
    },
  };

  if (demo) {
    const started = Date.now();
    const tick = (ms, fn) => {
      fn();
      const t = setInterval(fn, ms);
      t.unref(); // the listening socket is what keeps a demo alive; a forgotten close() must not hang a test run
      timers.push(t);
    };
    tick(250, () => plc.writeFloat32(0, 60 + 5 * Math.sin((Date.now() - started) / 20_000) + (Math.random() - 0.5) * 0.1));
    tick(1000, () => plc.setHolding(2, [(plc.getHolding(2)[0] + 1) & 0xffff]));
    tick(10_000, () => plc.setCoil(0, !plc.getCoil(0)));
    console.log(
      `simulated PLC on ${host}:${listenPort}, unit ${unitId ?? 'any'}: holding 0-1 float32 temperature (60 ± 5), ` +
        `holding 2 uint16 counter (+1 per second), coil 0 running (toggles every 10 s)`,
    );
  }
  return plc;
}

function parsePort(argv) {
  const i = argv.indexOf('--port');
  if (i === -1) return 5020;
  const port = Number(argv[i + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port needs a number 0..65535, got "${argv[i + 1] ?? ''}"`);
    process.exit(2);
  }
  return port;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const plc = await startSimulatedPlc({ port: parsePort(process.argv.slice(2)), demo: true }).catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => plc.close().then(() => process.exit(0)));
  }
}
