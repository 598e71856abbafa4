// Sparkplug B as an independent peer sees it: Debian's mosquitto_sub on the site broker. Every session test runs
// twice: with our broker in its own process, and with Debian's Mosquitto, so nothing depends on aedes.
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import type { DecodedMetric } from '../src/edge/sparkplug/codec.js';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub, type SeenMessage } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { BROKER_KINDS, startSiteBroker, type BrokerKind } from './helpers/site-broker.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const NODE = 'spBv1.0/test-plant/NBIRTH/gw-test';
const DEATH = 'spBv1.0/test-plant/NDEATH/gw-test';
const DCMD = 'spBv1.0/test-plant/DCMD/gw-test/plc-1';

const deviceYaml = (name: string, port: number, extraTags = '') => `
  - name: ${name}
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: 200ms
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: pump, table: coil, address: 3, type: bool }${extraTags}`;

const bdSeqOf = (m: SeenMessage) => m.payload.metrics.find((x) => x.name === 'bdSeq')?.value;
const verb = (m: SeenMessage) => m.topic.split('/')[2]!;
const fromNode = (sub: MosquittoSub) => sub.messages.filter((m) => !/\/(NCMD|DCMD|STATE)\b/.test(m.topic));

/** One seq counter for the node and its devices: +1 per message, 0 at every NBIRTH, no NDEATH in the count. */
function expectSeqContinuity(messages: SeenMessage[]): void {
  let expected: number | undefined;
  for (const m of messages) {
    if (verb(m) === 'NDEATH') {
      expect(m.payload.seq).toBeUndefined();
      expected = undefined;
      continue;
    }
    if (verb(m) === 'NBIRTH') expected = 0;
    if (expected !== undefined) expect({ topic: m.topic, seq: m.payload.seq }).toEqual({ topic: m.topic, seq: expected });
    expected = ((m.payload.seq ?? 0) + 1) % 256;
  }
}

interface Site {
  plc: any;
  sub: MosquittoSub;
  g: GatewayProcess;
  brokerPort: number;
  proxy?: TcpProxy;
}

/** A PLC, the site broker of `kind` in its own process, mosquitto_sub on it, and the gateway connected to it. */
async function startSite(kind: BrokerKind, o: { devicesYaml?: (plcPort: number) => string; sparkplugYaml?: string; viaProxy?: boolean } = {}): Promise<Site> {
  const plc = await startSimulatedPlc({ port: await freePort() });
  cleanups.push(() => plc.close());
  plc.setHolding(10, [100]);
  const broker = await startSiteBroker(kind);
  cleanups.push(() => broker.stop());
  const sub = new MosquittoSub(broker.port);
  await sub.start();
  cleanups.push(() => sub.stop());
  let gatewayPort = broker.port;
  let proxy: TcpProxy | undefined;
  if (o.viaProxy) {
    proxy = await startTcpProxy({ targetPort: broker.port });
    cleanups.push(() => proxy!.close());
    gatewayPort = proxy.port;
  }
  const devices = o.devicesYaml ? o.devicesYaml(plc.port) : `devices:${deviceYaml('plc-1', plc.port)}`;
  const g = await GatewayProcess.create({ extraYaml: `${devices}\n${o.sparkplugYaml ?? ''}`, embeddedBroker: false, ports: { mqtt: gatewayPort, http: await freePort() } });
  cleanups.push(() => g.kill());
  await g.start();
  return { plc, sub, g, brokerPort: broker.port, proxy };
}

describe.each(BROKER_KINDS)('Sparkplug B session with the %s broker', (kind) => {
  it('NBIRTH, DBIRTH, DDATA in order with seq 0,1,2…; the will is an NDEATH with the NBIRTH\'s bdSeq; the next session takes the next bdSeq', async () => {
    const { plc, sub, g } = await startSite(kind);
    await sub.waitForCount((m) => m.topic.includes('/DBIRTH/'), 1);
    // One change at a time, each once its DDATA is out: on a slow machine two changes within one poll period
    // would be one DDATA, which is right, but not what this test counts.
    for (let i = 1; i <= 5; i++) {
      plc.setHolding(10, [100 + i]);
      await sub.waitForCount((m) => m.topic.includes('/DDATA/'), i);
    }

    const topics = sub.messages.map((m) => m.topic);
    expect(topics[0]).toBe(NODE);
    expect(topics[1]).toBe('spBv1.0/test-plant/DBIRTH/gw-test/plc-1');
    expect(topics.slice(2).every((t) => t === 'spBv1.0/test-plant/DDATA/gw-test/plc-1')).toBe(true);
    expect(sub.messages.map((m) => m.payload.seq)).toEqual(sub.messages.map((_, i) => i % 256));

    const nbirth = sub.messages[0]!;
    const bdSeq = bdSeqOf(nbirth);
    expect(typeof bdSeq).toBe('number');
    expect(nbirth.payload.metrics.find((m) => m.name === 'bdSeq')!.datatype).toBe('Int64');
    expect(nbirth.payload.metrics.find((m) => m.name === 'Node Control/Rebirth')).toMatchObject({ datatype: 'Boolean', value: false });
    expect(nbirth.payload.metrics.every((m) => typeof m.timestamp === 'number')).toBe(true);
    const dbirth = sub.messages[1]!.payload.metrics;
    expect(dbirth.map((m) => [m.name, m.datatype, m.value])).toEqual([['level', 'UInt16', 100], ['pump', 'Boolean', false]]);
    expect(dbirth.every((m) => typeof m.timestamp === 'number')).toBe(true);
    const ddata = sub.messages.filter((m) => m.topic.includes('/DDATA/')).flatMap((m) => m.payload.metrics);
    expect(ddata.map((m) => m.value)).toEqual([101, 102, 103, 104, 105]);
    expect(ddata.every((m) => typeof m.timestamp === 'number' && !m.isHistorical)).toBe(true);

    // A crash: the broker delivers the will registered at CONNECT.
    const beforeKill = sub.messages.length;
    await g.kill();
    const [ndeath] = await sub.waitForCount((m) => m.topic === DEATH, 1);
    expect(sub.messages.length).toBe(beforeKill + 1);
    expect(bdSeqOf(ndeath!)).toBe(bdSeq);
    expect(ndeath!.payload.seq).toBeUndefined();
    expect(ndeath!.payload.metrics.map((m) => [m.name, m.datatype])).toEqual([['bdSeq', 'Int64']]);

    // The restarted gateway's NBIRTH carries the next bdSeq, and seq starts again at 0.
    await g.start();
    const births = await sub.waitForCount((m) => m.topic === NODE, 2);
    expect(bdSeqOf(births[1]!)).toBe(((bdSeq as number) + 1) % 256);
    expect(births[1]!.payload.seq).toBe(0);

    // An orderly stop publishes NDEATH itself before disconnecting.
    expect(await g.stop()).toBe(0);
    const deaths = await sub.waitForCount((m) => m.topic === DEATH, 2);
    expect(bdSeqOf(deaths[1]!)).toBe(((bdSeq as number) + 1) % 256);
    expectSeqContinuity(fromNode(sub));
  });

  it('DDEATH when the PLC stops answering and DBIRTH when it returns; DCMD writes only writable tags, refusals answered with the real value', async () => {
    const { plc, sub, g, brokerPort } = await startSite(kind, {
      devicesYaml: (port) => `devices:${deviceYaml('plc-1', port, '\n      - { name: setpoint, table: holding, address: 11, type: uint16, writable: true }')}`,
    });
    // After the birth: a first poll that lands after this change would put 5 in the DBIRTH, and no DDATA would follow.
    await sub.waitForCount((m) => m.topic.includes('/DBIRTH/'), 1);
    plc.setHolding(10, [5]);
    // In a birth or in data, depending on whether the first poll came before the change.
    await sub.waitForCount((m) => /\/(DBIRTH|DDATA)\//.test(m.topic) && m.payload.metrics.some((x) => x.name === 'level' && x.value === 5), 1);

    // A write to a writable tag reaches the PLC.
    expect(await mosquittoPub(brokerPort, DCMD, [{ name: 'setpoint', datatype: 'UInt16', value: 42 }])).toBe(0);
    await waitFor('the write to reach the PLC', () => plc.getHolding(11)[0] === 42, 10_000);
    await sub.waitForCount((m) => m.topic.includes('/DDATA/') && m.payload.metrics.some((x) => x.name === 'setpoint' && x.value === 42), 1);

    // A write to a read-only tag is refused: the PLC keeps its value, and the node answers with the real one.
    const before = sub.messages.length;
    expect(await mosquittoPub(brokerPort, DCMD, [{ name: 'level', datatype: 'UInt16', value: 999 }])).toBe(0);
    const [answer] = await sub.waitForCount((m) => sub.messages.indexOf(m) >= before && m.topic.includes('/DDATA/') && m.payload.metrics.some((x) => x.name === 'level'), 1);
    expect(answer!.payload.metrics.map((m) => [m.name, m.value])).toEqual([['level', 5]]);
    expect(plc.getHolding(10)[0]).toBe(5);
    // A value that does not fit the tag's type is refused and answered too.
    expect(await mosquittoPub(brokerPort, DCMD, [{ name: 'setpoint', datatype: 'Int32', value: 70000 }])).toBe(0);
    expect(await mosquittoPub(brokerPort, DCMD, [{ name: 'setpoint', datatype: 'Boolean', value: true }])).toBe(0);
    await sub.waitForCount((m) => m.topic.includes('/DDATA/') && m.payload.metrics.some((x) => x.name === 'setpoint' && x.value === 42), 3);
    await waitFor('the refusals to be counted', async () => (await g.status()).sparkplug.commandsRefused === 3, 10_000);
    expect(plc.getHolding(11)[0]).toBe(42);
    expect((await g.status()).sparkplug.writes).toBe(1);
    expect(g.logLines().filter((l) => /^Refused 1 of 1 metrics of a write to device "plc-1"/.test(l.msg)).map((l) => l.msg)).toEqual([
      expect.stringMatching(/the tag is not marked writable \("level"\)/), expect.stringMatching(/out of range for UInt16/), expect.stringMatching(/not an integer/),
    ]);

    // The PLC stops answering: DDEATH; it answers again: a fresh DBIRTH with its current values.
    plc.pause(true);
    const [ddeath] = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/DDEATH/gw-test/plc-1', 1, 20_000);
    expect(typeof ddeath!.payload.seq).toBe('number');
    plc.setHolding(10, [6]);
    plc.pause(false);
    const [dbirth] = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/DBIRTH/gw-test/plc-1' && m.at > ddeath!.at, 1, 30_000);
    expect(dbirth!.payload.metrics.map((m) => [m.name, m.value])).toEqual([['level', 6], ['pump', false], ['setpoint', 42]]);
    expectSeqContinuity(fromNode(sub));
  });

  it('data captured while the MQTT session is down goes out after the next birth, historical, with its original timestamps', async () => {
    const { plc, sub, g, proxy, brokerPort } = await startSite(kind, { viaProxy: true });
    await sub.waitForCount((m) => m.topic.includes('/DBIRTH/'), 1);
    const bdSeq = bdSeqOf(sub.messages[0]!);

    // The link to the broker goes away: the broker sends the will; the gateway keeps polling and journaling.
    await proxy!.close();
    const [will] = await sub.waitForCount((m) => m.topic === DEATH, 1);
    expect(bdSeqOf(will!)).toBe(bdSeq);
    // One change at a time, each once it is held (polled and captured): two changes within one poll period of a
    // slow machine would be one value.
    const changedAt: number[] = [];
    const heldAt: number[] = [];
    for (let i = 1; i <= 4; i++) {
      plc.setHolding(10, [200 + i]);
      changedAt.push(Date.now());
      await waitFor(`${200 + i} to be held`, async () => (await g.status()).sparkplug.held >= i, 10_000, 20);
      heldAt.push(Date.now());
    }

    // The link returns: NBIRTH with a new bdSeq, DBIRTH, then the held data in historical payloads of its own.
    const back = await startTcpProxy({ targetPort: brokerPort, port: proxy!.port });
    cleanups.push(() => back.close());
    const births = await sub.waitForCount((m) => m.topic === NODE, 2, 30_000);
    expect(bdSeqOf(births[1]!)).not.toBe(bdSeq);
    await sub.waitForCount((m) => m.at >= births[1]!.at && verb(m) === 'DDATA' && m.payload.metrics.some((x) => x.isHistorical), 1);
    await sleep(300);
    const after = sub.messages.slice(sub.messages.indexOf(births[1]!));
    expect(after.slice(0, 2).map(verb)).toEqual(['NBIRTH', 'DBIRTH']);
    expect(after[1]!.payload.metrics.find((m) => m.name === 'level')!.value).toBe(204);
    const historical = after.filter((m) => verb(m) === 'DDATA' && m.payload.metrics.every((x) => x.isHistorical));
    expect(historical.length).toBeGreaterThanOrEqual(1);
    expect(after.indexOf(historical[0]!)).toBe(2); // right after the birth sequence
    const held: DecodedMetric[] = historical.flatMap((m) => m.payload.metrics);
    expect(held.map((m) => m.value)).toEqual([201, 202, 203, 204]);
    // Original acquisition times: between the change and the moment the value was seen held, before the new NBIRTH.
    held.forEach((m, i) => {
      expect(m.timestamp!).toBeGreaterThanOrEqual(changedAt[i]! - 50);
      expect(m.timestamp!).toBeLessThanOrEqual(heldAt[i]!);
      expect(m.timestamp!).toBeLessThan(births[1]!.payload.timestamp);
    });
    // Live data afterwards is not historical, and no payload mixes the two.
    plc.setHolding(10, [300]);
    const [live] = await sub.waitForCount((m) => m.at > births[1]!.at && verb(m) === 'DDATA' && m.payload.metrics.some((x) => x.value === 300), 1);
    expect(live!.payload.metrics.some((x) => x.isHistorical)).toBe(false);
    expect(sub.messages.filter((m) => verb(m) === 'DDATA').every((m) => new Set(m.payload.metrics.map((x) => Boolean(x.isHistorical))).size === 1)).toBe(true);
    expect((await g.status()).sparkplug.historicalPublished).toBe(4);
    expectSeqContinuity(fromNode(sub));
  });

  it('aliases: unique across devices, in every birth with the name, alone in data and commands, stable across restarts', async () => {
    const { plc, sub, g, brokerPort } = await startSite(kind, {
      sparkplugYaml: 'sparkplug: { aliases: true }',
      // Two devices with the same tag names: their aliases must still differ.
      devicesYaml: (port) => `devices:${deviceYaml('plc-1', port, '\n      - { name: setpoint, table: holding, address: 11, type: uint16, writable: true }')}${deviceYaml('plc-2', port)}`,
    });
    const dbirths = await sub.waitForCount((m) => verb(m) === 'DBIRTH', 2);
    const aliasOf = new Map<string, number>();
    for (const b of dbirths) {
      for (const m of b.payload.metrics) {
        expect(typeof m.name).toBe('string');
        expect(typeof m.alias).toBe('number');
        aliasOf.set(`${b.topic.split('/')[4]}/${m.name}`, m.alias!);
      }
    }
    expect(aliasOf.size).toBe(5);
    expect(new Set(aliasOf.values()).size).toBe(5);
    // Node control metrics keep their names and have no alias.
    expect(sub.messages[0]!.payload.metrics.every((m) => m.alias === undefined && typeof m.name === 'string')).toBe(true);

    plc.setHolding(10, [123]);
    const data = await sub.waitForCount((m) => verb(m) === 'DDATA', 2);
    for (const d of data) {
      const device = d.topic.split('/')[4];
      expect(d.payload.metrics.map((m) => [m.name, m.alias, m.value])).toEqual([[undefined, aliasOf.get(`${device}/level`), 123]]);
    }

    // A command naming its metric by alias only, with no datatype, as the specification allows.
    expect(await mosquittoPub(brokerPort, DCMD, [{ alias: aliasOf.get('plc-1/setpoint')!, datatype: 'UInt16', value: 77 }], { datatypes: false })).toBe(0);
    await waitFor('the aliased write to reach the PLC', () => plc.getHolding(11)[0] === 77, 10_000);
    // Another device's alias does not resolve on this device.
    expect(await mosquittoPub(brokerPort, DCMD, [{ alias: aliasOf.get('plc-2/level')!, datatype: 'UInt16', value: 1 }], { datatypes: false })).toBe(0);
    await waitFor('the unknown alias to be refused', async () => (await g.status()).sparkplug.commandsRefused === 1, 10_000);

    // Restart: the same aliases.
    expect(await g.stop()).toBe(0);
    const seen = sub.messages.length;
    await g.start();
    const again = await sub.waitForCount((m) => sub.messages.indexOf(m) >= seen && verb(m) === 'DBIRTH', 2);
    for (const b of again) for (const m of b.payload.metrics) expect(m.alias).toBe(aliasOf.get(`${b.topic.split('/')[4]}/${m.name}`));
    expectSeqContinuity(fromNode(sub));
  });
});

describe('Sparkplug B with the embedded broker', () => {
  it('mosquitto_sub sees the birth sequence and data; a rebirth request is answered with the same bdSeq and no NDEATH', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    const g = await GatewayProcess.create({ extraYaml: `devices:${deviceYaml('plc-1', plc.port)}` });
    cleanups.push(() => g.kill());
    await g.start();
    const sub = new MosquittoSub(g.ports.mqtt);
    await sub.start();
    cleanups.push(() => sub.stop());
    // A subscriber that arrives late asks for a rebirth, as a host application would.
    expect(await mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    // The device's first DBIRTH may still be on its way when the subscriber connects (the PLC answered after
    // readiness); the rebirth sequence is what this test looks at, so it starts at the NBIRTH.
    const [nbirth] = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    const after = (m: (typeof sub.messages)[number]) => sub.messages.indexOf(m) > sub.messages.indexOf(nbirth!);
    await sub.waitForCount((m) => after(m) && verb(m) === 'DBIRTH', 1);
    plc.setHolding(10, [7]);
    await sub.waitForCount((m) => after(m) && verb(m) === 'DDATA', 1);
    const all = fromNode(sub);
    const start = all.indexOf(nbirth!);
    // Before the rebirth's NBIRTH at most the first session's DBIRTH, never a second NBIRTH or a death.
    expect(all.slice(0, start).map(verb).every((v) => v === 'DBIRTH')).toBe(true);
    const own = all.slice(start);
    expect(own.slice(0, 3).map(verb)).toEqual(['NBIRTH', 'DBIRTH', 'DDATA']);
    expect(own.slice(0, 3).map((m) => m.payload.seq)).toEqual([0, 1, 2]);
    expect(own[1]!.payload.metrics.map((m) => m.value)).toEqual([0, false]);
    expect(own[2]!.payload.metrics.map((m) => m.value)).toEqual([7]);
    const status = (await g.status()).sparkplug;
    expect(status.rebirths).toBe(1);
    expect(bdSeqOf(own[0]!)).toBe(status.bdSeq);
    expect(sub.messages.some((m) => verb(m) === 'NDEATH')).toBe(false);
  });
});
