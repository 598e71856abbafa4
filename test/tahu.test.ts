// An independent Sparkplug B peer: Eclipse Tahu's host application (Java, Maven Central, scripts/tahu.sh) watches
// the gateway through a soak with a device outage, a rebirth request, an orderly restart and a crash. Tahu must
// never have to ask for a rebirth on its own and never report a seq, bdSeq or alias problem.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { ROOT } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';
import { TahuHost } from './helpers/tahu.js';

const cleanups = cleanupAfterAll();

/** Tahu's Sparkplug host id: it publishes `spBv1.0/STATE/<HOST_ID>` {"online":true,…} retained. */
const HOST_ID = 'tahu-host';
const GROUP = 'test-plant';
const NODE = 'gw-test';

interface Variant {
  name: string;
  /** The gateway's `sparkplug:` config keys for this run. */
  sparkplug?: Record<string, unknown>;
}

// The gateway configurations the soak runs against, one full soak each.
const VARIANTS: Variant[] = [
  { name: 'plain (metric names, no primary host)' },
  { name: 'aliases + primary host', sparkplug: { aliases: true, primary_host: HOST_ID } },
];

interface Plc {
  port: number;
  setHolding(addr: number, words: number[]): void;
  getHolding(addr: number, count?: number): number[];
  setCoil(addr: number, on: boolean): void;
  getCoil(addr: number): boolean;
  writeFloat32(addr: number, value: number): void;
  pause(on: boolean): void;
  close(): Promise<void>;
}

const DEVICES = ['plc-a', 'plc-b'] as const;
type DeviceName = (typeof DEVICES)[number];
const TAGS = ['level', 'flow', 'pump'] as const;

/** The whole gateway config below the generated site/data_dir/broker/http keys: add new keys here. */
function gatewayYaml(variant: Variant, plcs: Record<DeviceName, Plc>): string {
  const lines: string[] = [];
  if (variant.sparkplug) lines.push(`sparkplug: ${JSON.stringify(variant.sparkplug)}`);
  lines.push('devices:');
  for (const name of DEVICES) {
    lines.push(
      `  - name: ${name}`,
      '    driver: modbus-tcp',
      '    host: 127.0.0.1',
      `    port: ${plcs[name].port}`,
      '    poll: 200ms',
      // plc-b is the one that stops answering: a short timeout makes its DDEATH quick.
      `    timeout: ${name === 'plc-b' ? '300ms' : '1s'}`,
      '    tags:',
      '      - { name: level, table: holding, address: 10, type: uint16 }',
      '      - { name: flow, table: holding, address: 20, type: float32 }',
      '      - { name: pump, table: coil, address: 3, type: bool }',
    );
  }
  return lines.join('\n') + '\n';
}

const readFloat32 = (plc: Plc, addr: number) => {
  const buf = Buffer.alloc(4);
  const [hi, lo] = plc.getHolding(addr, 2);
  buf.writeUInt16BE(hi!, 0);
  buf.writeUInt16BE(lo!, 2);
  return buf.readFloatBE(0);
};

describe('the Tahu harness', () => {
  it('reports what Tahu finds wrong in a faulty edge node: a bdSeq mismatch, a duplicate alias, a seq gap, and its own rebirth requests', async () => {
    const mqttPort = await freePort();
    const broker = await GatewayProcess.create({ extraYaml: '', command: 'broker', ports: { mqtt: mqttPort, http: await freePort() } });
    await broker.start();
    cleanups.push(() => broker.stop());
    const wire = new MosquittoSub(mqttPort, 'spBv1.0/faulty/#');
    await wire.start();
    cleanups.push(() => wire.stop());
    const tahu = new TahuHost({ port: mqttPort });
    cleanups.push(() => tahu.stop());
    await tahu.start();

    // A hand-made edge node "faulty/node-1", published with mosquitto_pub.
    const pub = async (verb: string, metrics: Parameters<typeof mosquittoPub>[2], seq?: number, device = '') =>
      expect(await mosquittoPub(mqttPort, `spBv1.0/faulty/${verb}/node-1${device && `/${device}`}`, metrics, { seq })).toBe(0);
    await pub('NBIRTH', [{ name: 'bdSeq', datatype: 'Int64', value: 7 }, { name: 'Node Control/Rebirth', datatype: 'Boolean', value: false }], 0);
    await tahu.waitForCount('NBIRTH', (e) => e.event === 'NBIRTH', 1);
    await pub('NDEATH', [{ name: 'bdSeq', datatype: 'Int64', value: 8 }]);
    await tahu.waitForCount('a bdSeq problem', (e) => e.event === 'tahu_log' && e.kind === 'bdSeq', 1);
    await pub('DBIRTH', [{ name: 'a', alias: 1, datatype: 'UInt16', value: 1 }, { name: 'b', alias: 1, datatype: 'UInt16', value: 2 }], 1, 'dev');
    await tahu.waitForCount('an alias problem', (e) => e.event === 'tahu_log' && e.kind === 'alias', 1);
    await tahu.waitForCount('a rebirth request', (e) => e.event === 'rebirth_request', 1);
    await pub('DDATA', [{ name: 'a', datatype: 'UInt16', value: 3 }], 3, 'dev'); // seq 2 never comes
    await tahu.waitForCount('a seq problem', (e) => e.event === 'tahu_log' && e.kind === 'seq', 1);

    expect(tahu.of('rebirth_request')[0]!.topic).toBe('spBv1.0/faulty/NCMD/node-1');
    await waitFor('Tahu\'s NCMD on the wire', () => wire.messages.some((m) => m.topic === 'spBv1.0/faulty/NCMD/node-1'), 10_000);
    expect(tahu.of('NDEATH')).toEqual([]); // the mismatched NDEATH was refused
  }, 240_000); // the first run builds the harness from Maven Central
});

describe.each(VARIANTS)('Eclipse Tahu host application against the gateway: $name', (variant) => {
  it('soak: births, data equal to the PLCs, a device outage, a rebirth request, a restart and a crash; Tahu never requests a rebirth and reports no seq/bdSeq/alias problem', async () => {
    // Two simulated PLCs whose values keep changing; every value written is remembered.
    const plcs = {} as Record<DeviceName, Plc>;
    const written = {} as Record<DeviceName, { level: Set<number>; flow: Set<number> }>;
    for (const name of DEVICES) {
      const plc: Plc = await startSimulatedPlc({ port: await freePort() });
      cleanups.push(() => plc.close());
      plcs[name] = plc;
      written[name] = { level: new Set([0]), flow: new Set([0]) };
    }
    let tick = 0;
    const change = () => {
      tick++;
      for (const [i, name] of DEVICES.entries()) {
        const level = (100 * (i + 1) + tick) & 0xffff;
        const flow = Math.fround(50 + 10 * Math.sin(tick / 7 + i));
        plcs[name].setHolding(10, [level]);
        plcs[name].writeFloat32(20, flow);
        plcs[name].setCoil(3, Math.floor(tick / 8) % 2 === 1);
        written[name].level.add(level);
        written[name].flow.add(flow);
      }
    };
    change();
    const ticker = setInterval(change, 300);
    cleanups.push(() => clearInterval(ticker));

    // The broker in its own process: it outlives the gateway, delivers the will, and Tahu stays connected to it.
    const mqttPort = await freePort();
    const broker = await GatewayProcess.create({ extraYaml: '', command: 'broker', ports: { mqtt: mqttPort, http: await freePort() } });
    await broker.start();
    cleanups.push(() => broker.stop());

    // An independent MQTT subscriber: what was on the wire, and every NCMD anyone sent.
    const wire = new MosquittoSub(mqttPort, `spBv1.0/${GROUP}/#`);
    await wire.start();
    cleanups.push(() => wire.stop());

    // Tahu first, as a host application is before its edge nodes: it sees every session from its NBIRTH.
    const tahu = new TahuHost({ port: mqttPort, hostId: HOST_ID });
    cleanups.push(() => tahu.stop());
    cleanups.push(() => tahu.save(join(ROOT, 'test-output', `tahu-${variant.name.replace(/\W+/g, '-')}.jsonl`)));
    await tahu.start();

    const g = await GatewayProcess.create({ extraYaml: gatewayYaml(variant, plcs), embeddedBroker: false, ports: { mqtt: mqttPort, http: await freePort() } });
    cleanups.push(() => g.kill());
    const count = (event: string, device?: string) => tahu.of(event, { node: NODE, device }).length;
    /** Waits for one more NBIRTH and one more DBIRTH per device than `before` had. */
    const awaitBirths = async (before: { nbirth: number; dbirth: Record<DeviceName, number> }, what: string) => {
      await tahu.waitForCount(`NBIRTH (${what})`, (e) => e.event === 'NBIRTH' && e.node === NODE, before.nbirth + 1);
      for (const d of DEVICES) await tahu.waitForCount(`DBIRTH ${d} (${what})`, (e) => e.event === 'DBIRTH' && e.device === d, before.dbirth[d] + 1);
    };
    const births = () => ({ nbirth: count('NBIRTH'), dbirth: { 'plc-a': count('DBIRTH', 'plc-a'), 'plc-b': count('DBIRTH', 'plc-b') } });
    /** Values keep changing for `ms`; Tahu must keep receiving them. */
    const steady = async (ms: number, what: string) => {
      const before = count('DDATA');
      await sleep(ms);
      await tahu.waitForCount(`DDATA (${what})`, (e) => e.event === 'DDATA', before + 10);
    };

    // 1. First session.
    await g.start();
    await awaitBirths({ nbirth: 0, dbirth: { 'plc-a': 0, 'plc-b': 0 } }, 'first session');
    await steady(12_000, 'first session');

    // 2. plc-b stops answering: DDEATH; it answers again: DBIRTH.
    let b = births();
    plcs['plc-b'].pause(true);
    await tahu.waitForCount('DDEATH plc-b', (e) => e.event === 'DDEATH' && e.device === 'plc-b', 1, 20_000);
    await sleep(4_000);
    plcs['plc-b'].pause(false);
    await tahu.waitForCount('DBIRTH plc-b after the outage', (e) => e.event === 'DBIRTH' && e.device === 'plc-b', b.dbirth['plc-b'] + 1, 30_000);
    await steady(8_000, 'after the outage');

    // 3. A host application asks for a rebirth (the test, as any HMI would): NBIRTH and all DBIRTHs again.
    b = births();
    expect(await mosquittoPub(mqttPort, `spBv1.0/${GROUP}/NCMD/${NODE}`, [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    await awaitBirths(b, 'rebirth request');
    await steady(8_000, 'after the rebirth');

    // 4. Orderly restart: NDEATH from the gateway itself, then a new session with the next bdSeq.
    b = births();
    expect(await g.stop()).toBe(0);
    await tahu.waitForCount('NDEATH (orderly stop)', (e) => e.event === 'NDEATH', 1);
    await g.start();
    await awaitBirths(b, 'orderly restart');
    await steady(8_000, 'after the orderly restart');

    // 5. Crash: the broker delivers the will (NDEATH); the restarted gateway opens the next session.
    b = births();
    await g.kill();
    await tahu.waitForCount('NDEATH (the will, after SIGKILL)', (e) => e.event === 'NDEATH', 2);
    await g.start();
    await awaitBirths(b, 'crash restart');

    // 6. Steady data for longer than Tahu's 5 s sequence-reorder timeout: a stored out-of-order message would
    // have turned into a rebirth request by then. Then the values stop changing and Tahu must catch up.
    await steady(10_000, 'after the crash restart');
    clearInterval(ticker);

    // Tahu's view: the last value of each metric from births and data, in the order Tahu reported them.
    const view = () => {
      const v: Record<string, unknown> = {};
      for (const e of tahu.events) {
        if ((e.event !== 'birth_metric' && e.event !== 'data') || !e.device || !e.metric) continue;
        // Java prints a Float's shortest decimal form: back to the same float32 value.
        v[`${e.device}/${e.metric.name}`] = e.metric.type === 'Float' ? Math.fround(e.metric.value as number) : e.metric.value;
      }
      return v;
    };
    const plcState = () => {
      const v: Record<string, unknown> = {};
      for (const d of DEVICES) {
        v[`${d}/level`] = plcs[d].getHolding(10)[0];
        v[`${d}/flow`] = readFloat32(plcs[d], 20);
        v[`${d}/pump`] = plcs[d].getCoil(3);
      }
      return v;
    };
    await waitFor('Tahu to hold the PLCs\' current values', () => JSON.stringify(view()) === JSON.stringify(plcState()) || undefined, 15_000).catch(() => undefined);
    expect(view()).toEqual(plcState());

    // The wire and Tahu agree on every message of the node: Tahu accepted all of them (it reports only those).
    const kinds = ['NBIRTH', 'DBIRTH', 'DDATA', 'DDEATH', 'NDEATH'];
    const onWire = () => Object.fromEntries(kinds.map((k) => [k, wire.messages.filter((m) => m.topic.split('/')[2] === k).length]));
    const inTahu = () => Object.fromEntries(kinds.map((k) => [k, count(k)]));
    await waitFor('Tahu to accept every message on the wire', () => JSON.stringify(onWire()) === JSON.stringify(inTahu()) || undefined, 10_000).catch(() => undefined);
    expect(inTahu()).toEqual(onWire());

    // Sessions: four NBIRTHs (start, rebirth, restart, crash restart); bdSeq b, b (rebirth), b+1, b+2. With
    // aliases, plc-b's return is announced by a whole birth sequence too (same bdSeq): one more NBIRTH and one
    // more plc-a DBIRTH.
    const aliases = variant.sparkplug?.aliases === true;
    const nbirths = tahu.of('NBIRTH', { node: NODE });
    const bd = nbirths[0]!.bdSeq!;
    expect(nbirths.map((e) => e.bdSeq)).toEqual([bd, ...(aliases ? [bd] : []), bd, (bd + 1) % 256, (bd + 2) % 256]);
    expect(nbirths.every((e) => e.seq === 0)).toBe(true);
    // Two NDEATHs accepted by Tahu, each with its session's bdSeq: the orderly stop's and the will.
    expect(tahu.of('NDEATH', { node: NODE }).map((e) => e.bdSeq)).toEqual([bd, (bd + 1) % 256]);
    expect(count('DDEATH', 'plc-b')).toBe(1);
    expect(count('DDEATH', 'plc-a')).toBe(0);
    expect(count('DBIRTH', 'plc-a')).toBe(aliases ? 5 : 4);
    expect(count('DBIRTH', 'plc-b')).toBe(5);

    // Every value Tahu received was one the PLC held; every name resolved (with aliases: from the birth).
    const data = tahu.events.filter((e) => e.event === 'data' || (e.event === 'birth_metric' && e.device));
    for (const e of data) {
      const d = e.device as DeviceName;
      expect(TAGS, `metric name from Tahu: ${JSON.stringify(e)}`).toContain(e.metric!.name);
      if (e.metric!.name === 'level') expect(written[d].level.has(e.metric!.value as number), `level ${e.metric!.value} on ${d}`).toBe(true);
      if (e.metric!.name === 'flow') expect(written[d].flow.has(Math.fround(e.metric!.value as number)), `flow ${e.metric!.value} on ${d}`).toBe(true);
      if (e.metric!.name === 'pump') expect(typeof e.metric!.value).toBe('boolean');
    }

    // Tahu never asked for a rebirth: the only NCMD on the wire is the test's own.
    const ncmds = wire.messages.filter((m) => m.topic === `spBv1.0/${GROUP}/NCMD/${NODE}`);
    const problems = tahu.events.filter((e) => e.event === 'tahu_log');
    const summary = {
      variant: variant.name,
      tahu: tahu.events.find((e) => e.event === 'start')?.tahu,
      messages: Object.values(inTahu()).reduce((a, n) => a + n, 0),
      byKind: inTahu(),
      dataValues: tahu.of('data').length,
      rebirthRequestsByTahu: tahu.of('rebirth_request').length,
      ncmdOnWire: ncmds.length,
      tahuProblems: problems.length,
    };
    console.log(`Tahu soak: ${JSON.stringify(summary)}`);
    expect(problems, 'Tahu reported problems (seq/bdSeq/alias errors, or warnings)').toEqual([]);
    expect(tahu.of('rebirth_request'), 'Tahu requested a rebirth on its own').toEqual([]);
    expect(ncmds).toHaveLength(1);
    expect(ncmds[0]!.payload.metrics).toMatchObject([{ name: 'Node Control/Rebirth', value: true }]);
  }, 300_000);
});

