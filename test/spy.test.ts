// `edge-gateway spy`: the site's Sparkplug B traffic as a technician reads it. Against the real gateway (births,
// aliases resolved in DDATA), against Debian's Mosquitto with mosquitto_pub's garbage and STATE (spy goes on), and
// a seeded fuzz of the line formatter (never throws, alias tables stay within their caps).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { AliasState, spyLine } from '../src/edge/cli/spy.js';
import { encodePayload, type Metric } from '../src/edge/sparkplug/codec.js';
import { runCliAsync } from './helpers/cli.js';
import { fuzzSeed, type Rng } from './helpers/fuzz.js';
import { GatewayProcess } from './helpers/gateway.js';
import { mosquittoPub, mosquittoPubText, requireMosquittoClients } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { startSiteBroker } from './helpers/site-broker.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();

const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { encode(m: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;

/** A stack trace has lines "    at fn (file:line:col)". */
const STACK = /^\s+at .+[:(]/m;

const lines = (stdout: string) => stdout.split('\n').filter((l) => l !== '');

describe('spy against the running gateway', () => {
  it('prints the NBIRTH with its bdSeq, the DBIRTH metrics with their values, and DDATA sent by alias under its name', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [100]);
    plc.setCoil(3, false);
    const g = await GatewayProcess.create({
      extraYaml: `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plc.port}
    poll: 200ms
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: pump, table: coil, address: 3, type: bool }
sparkplug: { aliases: true }`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 20_000);
    const before = (await g.status()).sparkplug.brokerClients as number;

    // The embedded broker on loopback takes anonymous clients. Two spies: text and --json.
    const url = `mqtt://127.0.0.1:${g.ports.mqtt}`;
    const text = runCliAsync(['spy', '--url', url, '--count', '8'], { timeoutMs: 60_000 });
    const json = runCliAsync(['spy', '--url', url, '--count', '8', '--json'], { timeoutMs: 60_000 });
    await waitFor('both spies connected', async () => (await g.status()).sparkplug.brokerClients >= before + 2, 20_000, 50);
    // Each SUBSCRIBE follows its CONNACK at once; on a loaded machine the spy's process may take a while to send it.
    await sleep(2000);
    // Births are not retained: ask for fresh ones now that spy listens, then change the level again and again.
    expect(await mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    let level = 100;
    const ticker = setInterval(() => plc.setHolding(10, [++level]), 300);
    const [t, j] = await Promise.all([text, json]).finally(() => clearInterval(ticker));

    expect(t.stderr).not.toMatch(STACK);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain(`spy: listening to spBv1.0/# on ${url}`);
    const out = lines(t.stdout);
    console.log(out.join('\n'));
    expect(out).toHaveLength(8);
    const at = (re: RegExp) => out.findIndex((l) => re.test(l));
    const ts = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
    expect(out[at(/ NCMD /)]).toMatch(new RegExp(`^${ts} NCMD test-plant/gw-test \\| Node Control/Rebirth=true \\(Boolean\\)$`));
    const nbirth = at(/ NBIRTH /);
    expect(out[nbirth]).toMatch(new RegExp(`^${ts} NBIRTH test-plant/gw-test seq=0 bdSeq=\\d+ \\| Node Control/Rebirth=false \\(Boolean\\)$`));
    const dbirth = at(/ DBIRTH /);
    expect(dbirth).toBeGreaterThan(nbirth);
    expect(out[dbirth]).toMatch(new RegExp(`^${ts} DBIRTH test-plant/gw-test/plc-1 seq=1 \\| level=\\d+ \\(UInt16, alias \\d+\\), pump=false \\(Boolean, alias \\d+\\)$`));
    const ddata = out.slice(dbirth + 1).filter((l) => l.includes(' DDATA '));
    expect(ddata.length).toBeGreaterThanOrEqual(1);
    for (const l of ddata) expect(l).toMatch(new RegExp(`^${ts} DDATA test-plant/gw-test/plc-1 seq=\\d+ \\| level=\\d+$`));

    // The same in JSON: the DDATA metric came by alias, and carries the name its DBIRTH gave it.
    expect(j.code, j.stderr).toBe(0);
    const records = lines(j.stdout).map((l) => JSON.parse(l));
    expect(records).toHaveLength(8);
    const birth = records.find((r) => r.type === 'NBIRTH');
    expect(birth).toMatchObject({ group: 'test-plant', node: 'gw-test', seq: 0, bdSeq: expect.any(Number) });
    expect(birth.bdSeq).toBe((await g.status()).sparkplug.bdSeq);
    const levelAlias = records.find((r) => r.type === 'DBIRTH').metrics.find((m: any) => m.name === 'level').alias;
    expect(levelAlias).toEqual(expect.any(Number));
    const data = records.slice(records.findIndex((r) => r.type === 'DBIRTH') + 1).find((r) => r.type === 'DDATA');
    expect(data.metrics).toEqual([expect.objectContaining({ name: 'level', alias: levelAlias, datatype: 'UInt16', value: expect.any(Number) })]);
    expect(data.metrics[0].birthSeen).toBeUndefined();
  });

  it('says in one sentence, naming the URL, that nothing listens there, and exits 1', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const r = await runCliAsync(['spy', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`cannot connect to ${url}: connection refused (no MQTT broker listens there)\n`);
  });
});

/** Debian's mosquitto_pub sends a file's bytes as they are. */
function pubFile(port: number, topic: string, bytes: Buffer, retain: boolean): Promise<number | null> {
  requireMosquittoClients();
  const file = join(mkdtempSync(join(tmpdir(), 'spy-')), 'payload.bin');
  writeFileSync(file, bytes);
  return new Promise((resolve, reject) => {
    const child = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-f', file, ...(retain ? ['-r'] : [])], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', resolve);
  });
}

describe('spy and what mosquitto_pub sends to Debian\'s Mosquitto', () => {
  it('prints "undecodable" for garbage and the STATE for a host\'s JSON, and goes on reading', async () => {
    const broker = await startSiteBroker('mosquitto');
    cleanups.push(() => broker.stop());
    const garbage = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff]);
    // Retained, so that spy reads them whenever it subscribes; then live messages until it has read five.
    expect(await pubFile(broker.port, 'spBv1.0/g/DDATA/n/d', garbage, true)).toBe(0);
    expect(await mosquittoPubText(broker.port, 'spBv1.0/g/NDATA/n', 'hello, not protobuf', { retain: true })).toBe(0);
    expect(await mosquittoPubText(broker.port, 'spBv1.0/STATE/scada-1', '{"online":true,"timestamp":1718000000000}', { retain: true })).toBe(0);
    expect(await mosquittoPub(broker.port, 'spBv1.0/g/DDATA/n/d2', [{ alias: 7, datatype: 'Int32', value: -5 }], { seq: 3 }, ['-r'])).toBe(0);

    const run = runCliAsync(['spy', '--url', `mqtt://127.0.0.1:${broker.port}`, '--count', '5'], { timeoutMs: 60_000 });
    let exited = false;
    void run.finally(() => (exited = true));
    for (let i = 0; !exited && i < 200; i++) {
      await mosquittoPub(broker.port, 'spBv1.0/g/DDATA/n/live', [{ name: 'speed', datatype: 'Float', value: 0.1, isHistorical: true, timestamp: 1718000000000 }], { seq: i % 256 });
      await sleep(100);
    }
    const r = await run;
    expect(r.stderr).not.toMatch(STACK);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    console.log(out.join('\n'));
    expect(out).toHaveLength(5);
    expect(out).toContainEqual(expect.stringMatching(/Z DDATA g\/n\/d \(retained\) undecodable \(5 bytes\): index out of range/));
    expect(out).toContainEqual(expect.stringMatching(/Z NDATA g\/n \(retained\) undecodable \(19 bytes\): \S/));
    expect(out).toContainEqual(expect.stringMatching(/Z STATE scada-1 \(retained\) online=true timestamp=2024-06-10T06:13:20\.000Z$/));
    expect(out).toContainEqual(expect.stringMatching(/Z DDATA g\/n\/d2 \(retained\) seq=3 \| alias 7 \(no birth seen\)=-5 \(Int32\)$/));
    // The fifth came live, after the undecodable ones: spy went on.
    expect(out[4]).toMatch(/Z DDATA g\/n\/live seq=\d+ \| speed=0\.1 \(Float, historical 2024-06-10T06:13:20\.000Z\)$/);
  });
});

describe('spyLine', () => {
  const at = Date.UTC(2025, 5, 1, 10, 15, 42, 120);
  const bytes = (metrics: Metric[], seq?: number) => encodePayload({ timestamp: at, seq, metrics });

  it('names metrics sent by alias from the node\'s and its devices\' births, shows the flags, and forgets nothing else', () => {
    const s = new AliasState();
    const nbirth = spyLine('spBv1.0/p/NBIRTH/n', bytes([{ name: 'bdSeq', datatype: 'Int64', value: 4 }, { name: 'Node Control/Rebirth', datatype: 'Boolean', value: false }], 0), s, { receivedAt: at });
    expect(nbirth.line).toBe('2025-06-01T10:15:42.120Z NBIRTH p/n seq=0 bdSeq=4 | Node Control/Rebirth=false (Boolean)');
    spyLine('spBv1.0/p/DBIRTH/n/d', bytes([{ name: 'level', alias: 7, datatype: 'Int8', value: 3 }, { name: 'note', alias: 8, datatype: 'String', value: 'a, b' }], 1), s);
    // Int8 -2 travels as 254 without its datatype: the birth's datatype reads it back.
    const data = spyLine('spBv1.0/p/DDATA/n/d', encodePayload({ timestamp: at, seq: 2, metrics: [{ alias: 7, datatype: 'Int8', value: -2, properties: { Quality: 500 } }, { alias: 8, datatype: 'String', value: null }] }, { datatypes: false }), s, { receivedAt: at });
    expect(data.line).toBe('2025-06-01T10:15:42.120Z DDATA p/n/d seq=2 | level=-2 (stale), note=null (is_null)');
    const unknown = spyLine('spBv1.0/p/DDATA/n/other', bytes([{ alias: 9, datatype: 'Double', value: 1.5 }], 3), s, { receivedAt: at });
    expect(unknown.line).toBe('2025-06-01T10:15:42.120Z DDATA p/n/other seq=3 | alias 9 (no birth seen)=1.5 (Double)');
    const transient = ProtoPayload.encode({ timestamp: at, seq: 4, metrics: [{ alias: 7, isTransient: true, intValue: 1 }, { name: 'cfg', datatype: 19 }] }).finish();
    expect(spyLine('spBv1.0/p/DDATA/n/d', transient, s, { receivedAt: at }).line).toBe('2025-06-01T10:15:42.120Z DDATA p/n/d seq=4 | level=1 (transient), cfg=? (Template, not decoded)');
    // A new NBIRTH starts the node's table afresh.
    spyLine('spBv1.0/p/NBIRTH/n', bytes([{ name: 'bdSeq', datatype: 'Int64', value: 5 }], 0), s);
    expect(spyLine('spBv1.0/p/DDATA/n/d', bytes([{ alias: 7, datatype: 'Int8', value: 1 }], 1), s).line).toMatch(/\| alias 7 \(no birth seen\)=1 \(Int8\)$/);
    expect(s.stats()).toEqual({ nodes: 1, metrics: 1, aliases: 0 });
  });

  it('prints STATE, undecodable payloads and foreign topics as one line each', () => {
    const s = new AliasState();
    const line = (topic: string, payload: Uint8Array | string) => spyLine(topic, typeof payload === 'string' ? Buffer.from(payload) : payload, s, { receivedAt: at }).line;
    expect(line('spBv1.0/STATE/host', '{"online":false,"timestamp":1748772942120}')).toBe('2025-06-01T10:15:42.120Z STATE host online=false timestamp=2025-06-01T10:15:42.120Z');
    expect(line('STATE/old-host', 'OFFLINE')).toBe('2025-06-01T10:15:42.120Z STATE old-host online=false (Sparkplug 2.2 text)');
    expect(line('spBv1.0/STATE/host', '{"online":"yes"}')).toMatch(/STATE host undecodable \(16 bytes\): JSON without a boolean "online"/);
    expect(line('spBv1.0/g/DDATA/n/d', Buffer.from([0x08]))).toBe('2025-06-01T10:15:42.120Z DDATA g/n/d undecodable (1 bytes): index out of range: 1 + 1 > 1');
    expect(line('spBv1.0/g/NOPE/n', '')).toMatch(/Z \? spBv1\.0\/g\/NOPE\/n undecodable \(0 bytes\): not a Sparkplug B topic/);
    expect(JSON.parse(spyLine('spBv1.0/g/DDATA/n/d', bytes([{ name: 'big', datatype: 'UInt64', value: 2n ** 64n - 1n }]), s, { json: true }).line).metrics[0]).toMatchObject({ name: 'big', value: '18446744073709551615' });
  });
});

const DATATYPES = ['Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double', 'Boolean', 'String', 'DateTime', 'Text'] as const;
const VERBS = ['NBIRTH', 'DBIRTH', 'NDATA', 'DDATA', 'NCMD', 'DCMD', 'NDEATH', 'DDEATH'];

function randomRaw(r: Rng): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  if (r.chance(0.8)) m.name = r.chance(0.9) ? `m${r.int(400)}` : r.pick(['', 'a=b, c', 'ä/😀', 'x'.repeat(500), 'bdSeq', 'esc\u001b[2J\nnext line']);
  if (r.chance(0.6)) m.alias = r.chance(0.95) ? r.int(5000) : String(BigInt(r.int(2 ** 32)) * BigInt(r.int(2 ** 32)));
  if (r.chance(0.85)) m.datatype = r.chance(0.9) ? 1 + r.int(14) : r.int(40);
  if (r.chance(0.1)) m.isHistorical = true;
  if (r.chance(0.1)) m.isTransient = true;
  if (r.chance(0.1)) m.isNull = true;
  if (r.chance(0.2)) m.properties = { keys: ['Quality'], values: [{ type: r.pick([3, 7, 12]), intValue: r.pick([0, 192, 500, r.int(2 ** 32)]) }] };
  if (r.chance(0.3)) m.timestamp = String(r.int(2 ** 32) * r.int(2 ** 20));
  switch (r.int(7)) {
    case 0: m.intValue = r.int(2 ** 32); break;
    case 1: m.longValue = String(BigInt(r.int(2 ** 32)) * BigInt(r.int(2 ** 32))); break;
    case 2: m.floatValue = r.pick([NaN, Infinity, -0, 3e38, r.next()]); break;
    case 3: m.doubleValue = r.pick([NaN, -Infinity, 1e308, r.next() * 1e6]); break;
    case 4: m.booleanValue = r.chance(0.5); break;
    case 5: m.stringValue = r.bytes(r.int(60)).toString('latin1'); break;
    default: break;
  }
  return m;
}

function randomPayload(r: Rng): Uint8Array {
  if (r.chance(0.1)) return r.bytes(r.int(200));
  const valid = r.chance(0.5)
    ? Buffer.from(encodePayload({ timestamp: r.int(2 ** 40), seq: r.int(256), metrics: Array.from({ length: r.int(8) }, () => ({ name: `m${r.int(400)}`, alias: r.int(5000), datatype: 'Int32' as const, value: r.int(1000) })) }))
    : Buffer.from(ProtoPayload.encode({ timestamp: String(r.int(2 ** 40)), ...(r.chance(0.8) ? { seq: r.int(300) } : {}), metrics: Array.from({ length: r.chance(0.02) ? 3000 : r.int(10) }, () => randomRaw(r)) }).finish());
  switch (r.int(5)) {
    case 0: return valid.subarray(0, r.int(valid.length + 1)); // truncated
    case 1: {
      const b = Buffer.from(valid);
      for (let i = 0; i < 1 + r.int(4) && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
      return b; // bytes flipped
    }
    case 2: return Buffer.concat([valid, r.bytes(r.int(20))]);
    default: return valid;
  }
}

function randomTopic(r: Rng): string {
  const group = `g${r.int(3)}`;
  const node = `n${r.int(40)}`; // more nodes than the cap below
  const verb = r.pick(VERBS);
  switch (r.int(12)) {
    case 0: return `spBv1.0/STATE/h${r.int(3)}`;
    case 1: return r.pick(['spBv1.0', `spBv1.0/${group}/DDATA/${node}\u001b[31m/d`, 'spBv1.0/g', `spBv1.0/${group}/${verb}`, `spBv1.0/${group}/XDATA/${node}`, `spBv1.0/${group}/${verb}/${node}/d/extra`, 'other/topic', 'STATE/x', `spBv1.0/${group}/DDATA/${node}/`]);
    default: return verb.startsWith('D') ? `spBv1.0/${group}/${verb}/${node}/d${r.int(3)}` : `spBv1.0/${group}/${verb}/${node}`;
  }
}

describe('spyLine fuzz', () => {
  it('never throws on random, truncated and bit-flipped payloads; the alias tables stay within their caps', () => {
    const r = fuzzSeed('spy line formatter');
    const limits = { nodes: 8, metrics: 300 };
    const s = new AliasState(limits);
    const notes: string[] = [];
    let undecodable = 0;
    for (let i = 0; i < 4000; i++) {
      const topic = randomTopic(r);
      const payload = topic.includes('STATE') && r.chance(0.7)
        ? Buffer.from(r.pick(['{"online":true,"timestamp":1}', '{"online":false}', 'ONLINE', '{', 'null', '[]', '{"online":1}', r.bytes(r.int(30)).toString('latin1')]))
        : randomPayload(r);
      const json = r.chance(0.3);
      let out: ReturnType<typeof spyLine>;
      try {
        out = spyLine(topic, payload, s, { json, receivedAt: r.chance(0.01) ? NaN : 1_700_000_000_000 + i, retained: r.chance(0.1) });
      } catch (err) {
        throw new Error(`seed ${r.seed}, message ${i} on ${topic} (${Buffer.from(payload).toString('hex')}): spyLine threw ${(err as Error).stack}`);
      }
      // One line, and nothing a terminal would act on (line ends, escape sequences).
      expect(out.line, `seed ${r.seed}, message ${i}`).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      if (json) expect(() => JSON.parse(out.line)).not.toThrow();
      if (out.record.undecodable !== undefined) undecodable += 1;
      notes.push(...out.notes);
      const stats = s.stats();
      expect(stats.nodes, `seed ${r.seed}, message ${i}`).toBeLessThanOrEqual(limits.nodes);
      expect(stats.metrics, `seed ${r.seed}, message ${i}`).toBeLessThanOrEqual(limits.metrics);
      expect(stats.aliases).toBeLessThanOrEqual(stats.metrics);
    }
    expect(undecodable).toBeGreaterThan(0);
    // The caps were reached, and what they dropped was said.
    expect(notes.some((n) => n.includes('at most 8 edge nodes'))).toBe(true);
    expect(notes.some((n) => n.includes('at most 300 metric definitions'))).toBe(true);
  });
});
