// Fuzz: garbage, truncated and ill-typed Sparkplug NCMD/DCMD payloads. First thousands of them straight into the
// command handler (no sockets), then a burst over MQTT into the running gateway, which must go on polling,
// publishing and journaling with its session and bdSeq unchanged.
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../../scripts/sim-plc.mjs';
import { encodePayload, type Metric } from '../../src/edge/sparkplug/codec.js';
import { checkCommandValue } from '../../src/edge/sparkplug/command-values.js';
import { Commands, type CommandDef } from '../../src/edge/sparkplug/commands.js';
import { fuzzSeed, type Rng } from '../helpers/fuzz.js';
import { commandedPlcYaml } from '../helpers/primary-host.js';
import { GatewayProcess } from '../helpers/gateway.js';
import { freePort, waitFor } from '../helpers/net.js';

const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { encode(m: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const DEFS: CommandDef[] = [
  { name: 'level', datatype: 'Int16', writable: false },
  { name: 'setpoint', datatype: 'UInt16', writable: true },
  { name: 'speed', datatype: 'Float', writable: true },
  { name: 'count', datatype: 'Int64', writable: true },
  { name: 'label', datatype: 'String', writable: true },
  { name: 'run', datatype: 'Boolean', writable: true },
];
const NAMES = [...DEFS.map((d) => d.name), 'Node Control/Rebirth', 'ghost', '', 'ä/ö/😀', 'x'.repeat(3000)];

function randomValueField(r: Rng): Record<string, unknown> {
  switch (r.int(8)) {
    case 0: return { intValue: r.int(2 ** 32) };
    case 1: return { longValue: String(BigInt(r.int(2 ** 32)) * BigInt(r.int(2 ** 32))) };
    case 2: return { floatValue: r.pick([NaN, Infinity, -0, 1.5, 3e38, r.next()]) };
    case 3: return { doubleValue: r.pick([NaN, -Infinity, 1e308, r.next() * 1e6]) };
    case 4: return { booleanValue: r.chance(0.5) };
    case 5: return { stringValue: r.chance(0.1) ? 'z'.repeat(200_000) : r.bytes(r.int(40)).toString('latin1') };
    case 6: return { bytesValue: r.bytes(r.int(64)) };
    default: return {};
  }
}

/** One command payload: valid-looking protobuf with random fields, or bytes that are not one. */
function randomCommand(r: Rng): Buffer {
  const kind = r.int(10);
  if (kind === 0) return r.bytes(r.int(300));
  const metrics = Array.from({ length: r.chance(0.05) ? 2000 : r.int(6) }, () => {
    const m: Record<string, unknown> = {};
    if (r.chance(0.8)) m.name = r.pick(NAMES);
    if (r.chance(0.3)) m.alias = r.int(50);
    if (r.chance(0.8)) m.datatype = r.chance(0.7) ? r.int(15) : r.int(300);
    if (r.chance(0.2)) m.isNull = true;
    if (r.chance(0.1)) m.properties = { keys: ['Quality', 'extra'], values: [{ type: r.int(30), intValue: r.int(1000) }] };
    return { ...m, ...randomValueField(r) };
  });
  const bytes = Buffer.from(ProtoPayload.encode({ timestamp: r.int(2 ** 31), seq: r.int(300), metrics }).finish());
  // Truncated or with a flipped byte now and then.
  if (kind === 1) return bytes.subarray(0, r.int(bytes.length + 1));
  if (kind === 2 && bytes.length > 0) bytes[r.int(bytes.length)] ^= 1 << r.int(8);
  return bytes;
}

describe('fuzz: Sparkplug commands', () => {
  it('the command handler: no input throws, writes only what a writable tag takes, one bounded line at most per command', async () => {
    const r = fuzzSeed('sparkplug-commands');
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }));
    const defs = new Map(DEFS.map((d) => [d.name, d]));
    const writes: Array<{ tag: string; value: unknown }> = [];
    let violations = 0;
    const commands = new Commands({
      log,
      defOf: (device, m) => (device === 'plc-1' ? defs.get(m.name ?? `alias:${m.alias}`) ?? (m.alias === 7 ? defs.get('setpoint') : undefined) : undefined),
      write: async (_device, tag, value) => {
        const def = defs.get(tag)!;
        // Only values the tag's own datatype accepts may reach the PLC.
        if (!def.writable || !checkCommandValue(value, def.datatype).ok) violations += 1;
        if (r.chance(0.1)) throw new Error(`PLC exception 2 (illegal address) ${'!'.repeat(r.int(5000))}`);
        writes.push({ tag, value });
      },
      answer: () => undefined,
      nodeControl: (m) => m.name === 'Node Control/Rebirth',
    });
    const INPUTS = 2000;
    let maxLine = 0;
    let maxLinesPerCommand = 0;
    const started = Date.now();
    for (let i = 0; i < INPUTS; i++) {
      const before = lines.length;
      const bytes = randomCommand(r);
      if (r.chance(0.2)) commands.onNodeCommand(bytes);
      else await commands.onDeviceCommand(r.chance(0.9) ? 'plc-1' : 'x'.repeat(r.int(1000)), bytes);
      const added = lines.slice(before);
      maxLinesPerCommand = Math.max(maxLinesPerCommand, added.filter((l) => l.includes('"level":40')).length);
      for (const l of added) maxLine = Math.max(maxLine, l.length);
    }
    const s = commands.status();
    console.log(`fuzz sparkplug-commands: ${INPUTS} commands in ${Date.now() - started} ms, ${writes.length} written, ${s.commandsRefused} metrics refused, ${lines.length} log lines (${s.refusalLinesSuppressed} left out), longest ${maxLine} bytes, violations ${violations}`);
    expect(violations).toBe(0);
    expect(maxLinesPerCommand).toBeLessThanOrEqual(1);
    expect(maxLine).toBeLessThan(4096);
    expect(s.commandsRefused).toBeGreaterThan(0);
  });

  it('the running gateway: a burst of garbage commands over MQTT leaves it polling, publishing and journaling in the same session', async () => {
    const r = fuzzSeed('sparkplug-commands-gateway');
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [1]);
    const g = await GatewayProcess.create({ extraYaml: commandedPlcYaml(plc.port) });
    cleanups.push(() => g.kill());
    await g.start();
    await waitFor('the node online', async () => (await g.status()).sparkplug.state === 'online', 15_000);
    const before = await g.status();
    const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.ports.mqtt}`, { clientId: 'fuzz-host', reconnectPeriod: 0 });
    cleanups.push(() => host.endAsync(true));
    const seen: string[] = [];
    host.on('message', (topic) => seen.push(topic));
    await host.subscribeAsync('spBv1.0/test-plant/DDATA/gw-test/#', { qos: 0 });

    const BURST = 300;
    const topics = ['spBv1.0/test-plant/DCMD/gw-test/plc-1', 'spBv1.0/test-plant/NCMD/gw-test', 'spBv1.0/test-plant/DCMD/gw-test/nobody'];
    for (let i = 0; i < BURST; i++) await host.publishAsync(r.pick(topics), randomCommand(r), { qos: r.pick([0, 1] as const) });
    // A good write at the end proves the command path still works; a PLC change proves polling and publishing.
    const good: Metric[] = [{ name: 'setpoint', datatype: 'UInt16', value: 4242 }];
    await host.publishAsync(topics[0]!, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: good })), { qos: 1 });
    await waitFor('the good write to reach the PLC', () => plc.getHolding(11)[0] === 4242, 20_000);
    plc.setHolding(10, [777]);
    await waitFor('the new value published', () => seen.length > 0, 10_000);
    const after = await g.status();
    console.log(`fuzz sparkplug-commands-gateway: ${BURST} commands; refused ${after.sparkplug.commandsRefused - before.sparkplug.commandsRefused} metrics; written ${after.sparkplug.writes}; journal ${before.journal.nextSeq}→${after.journal.nextSeq}`);
    expect(after.sparkplug.state).toBe('online');
    expect(after.sparkplug.bdSeq).toBe(before.sparkplug.bdSeq);
    expect(after.devices[0].polls).toBeGreaterThan(before.devices[0].polls);
    expect(after.journal.nextSeq).toBeGreaterThan(before.journal.nextSeq);
    expect(g.logs()).not.toMatch(/\n\s+at /);
    expect(Math.max(...g.logs().split('\n').map((l) => l.length))).toBeLessThan(4096);
  });
});
