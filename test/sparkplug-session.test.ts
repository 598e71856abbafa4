// Sparkplug B as an independent peer sees it: Debian's mosquitto_sub on the site broker.
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const devicesYaml = (port: number) => `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: 200ms
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: pump, table: coil, address: 3, type: bool }
`;

const bdSeqOf = (m: { payload: { metrics: Array<{ name?: string; value: unknown }> } }) => m.payload.metrics.find((x) => x.name === 'bdSeq')?.value;

describe('Sparkplug B session', () => {
  it('NBIRTH, DBIRTH, DDATA in order with seq 0,1,2…; the will is an NDEATH with the NBIRTH\'s bdSeq; the next session takes the next bdSeq', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [100]);

    // The broker in its own process, so that it outlives a crashed gateway and delivers the will.
    const mqttPort = await freePort();
    const broker = await GatewayProcess.create({ extraYaml: '', command: 'broker', ports: { mqtt: mqttPort, http: await freePort() } });
    await broker.start();
    cleanups.push(() => broker.stop());

    const sub = new MosquittoSub(mqttPort);
    await sub.start();
    cleanups.push(() => sub.stop());

    const g = await GatewayProcess.create({ extraYaml: devicesYaml(plc.port), embeddedBroker: false, ports: { mqtt: mqttPort, http: await freePort() } });
    cleanups.push(() => g.kill());
    await g.start();
    await sub.waitForCount((m) => m.topic.includes('/DBIRTH/'), 1);
    for (let i = 1; i <= 5; i++) {
      plc.setHolding(10, [100 + i]);
      await sleep(300);
    }
    await sub.waitForCount((m) => m.topic.includes('/DDATA/'), 5);

    const topics = sub.messages.map((m) => m.topic);
    expect(topics[0]).toBe('spBv1.0/test-plant/NBIRTH/gw-test');
    expect(topics[1]).toBe('spBv1.0/test-plant/DBIRTH/gw-test/plc-1');
    expect(topics.slice(2).every((t) => t === 'spBv1.0/test-plant/DDATA/gw-test/plc-1')).toBe(true);
    expect(sub.messages.map((m) => m.payload.seq)).toEqual(sub.messages.map((_, i) => i % 256));

    const nbirth = sub.messages[0]!;
    const bdSeq = bdSeqOf(nbirth);
    expect(typeof bdSeq).toBe('number');
    expect(nbirth.payload.metrics.find((m) => m.name === 'bdSeq')!.datatype).toBe('Int64');
    expect(nbirth.payload.metrics.find((m) => m.name === 'Node Control/Rebirth')).toMatchObject({ datatype: 'Boolean', value: false });
    const dbirth = sub.messages[1]!.payload.metrics;
    expect(dbirth.map((m) => [m.name, m.datatype, m.value])).toEqual([['level', 'UInt16', 100], ['pump', 'Boolean', false]]);
    expect(dbirth.every((m) => typeof m.timestamp === 'number')).toBe(true);
    const levels = sub.messages.filter((m) => m.topic.includes('/DDATA/')).flatMap((m) => m.payload.metrics).map((m) => m.value);
    expect(levels).toEqual([101, 102, 103, 104, 105]);

    // A crash: the broker delivers the will registered at CONNECT.
    const beforeKill = sub.messages.length;
    await g.kill();
    const [ndeath] = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/NDEATH/gw-test', 1);
    expect(sub.messages.length).toBe(beforeKill + 1);
    expect(bdSeqOf(ndeath!)).toBe(bdSeq);
    expect(ndeath!.payload.seq).toBeUndefined();
    expect(ndeath!.payload.metrics).toHaveLength(1);

    // The restarted gateway's NBIRTH carries the next bdSeq, and seq starts again at 0.
    await g.start();
    const births = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/NBIRTH/gw-test', 2);
    expect(bdSeqOf(births[1]!)).toBe(((bdSeq as number) + 1) % 256);
    expect(births[1]!.payload.seq).toBe(0);

    // An orderly stop publishes NDEATH itself before disconnecting.
    expect(await g.stop()).toBe(0);
    const deaths = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/NDEATH/gw-test', 2);
    expect(bdSeqOf(deaths[1]!)).toBe(((bdSeq as number) + 1) % 256);
  });

  it('with the embedded broker, mosquitto_sub sees the birth sequence and data', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    const g = await GatewayProcess.create({ extraYaml: devicesYaml(plc.port) });
    cleanups.push(() => g.kill());
    await g.start();
    const sub = new MosquittoSub(g.ports.mqtt);
    await sub.start();
    cleanups.push(() => sub.stop());
    // A subscriber that arrives late asks for a rebirth, as a host application would.
    expect(mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    await sub.waitForCount((m) => m.topic.includes('/DBIRTH/'), 1);
    plc.setHolding(10, [7]);
    await sub.waitForCount((m) => m.topic.includes('/DDATA/'), 1);
    const fromNode = sub.messages.filter((m) => !/\/(NCMD|DCMD)\//.test(m.topic));
    expect(fromNode.slice(0, 3).map((m) => m.topic.split('/')[2])).toEqual(['NBIRTH', 'DBIRTH', 'DDATA']);
    expect(fromNode.slice(0, 3).map((m) => m.payload.seq)).toEqual([0, 1, 2]);
    expect(fromNode[1]!.payload.metrics.map((m) => m.value)).toEqual([0, false]);
    expect(fromNode[2]!.payload.metrics.map((m) => m.value)).toEqual([7]);
    expect((await g.status()).sparkplug.rebirths).toBe(1);
  });

  it('DDEATH when the PLC stops answering and DBIRTH when it returns; DCMD writes only writable tags', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [5]);
    const g = await GatewayProcess.create({
      extraYaml: `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plc.port}
    poll: 200ms
    timeout: 300ms
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: setpoint, table: holding, address: 11, type: uint16, writable: true }
`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    const sub = new MosquittoSub(g.ports.mqtt);
    await sub.start();
    cleanups.push(() => sub.stop());
    const publish = (topic: string, metrics: Parameters<typeof mosquittoPub>[2]) => ({ status: mosquittoPub(g.ports.mqtt, topic, metrics) });

    // A write to a writable tag reaches the PLC.
    expect(publish('spBv1.0/test-plant/DCMD/gw-test/plc-1', [{ name: 'setpoint', datatype: 'UInt16', value: 42 }]).status).toBe(0);
    await waitFor('the write to reach the PLC', () => plc.getHolding(11)[0] === 42, 10_000);
    // A write to a read-only tag is refused: the PLC keeps its value.
    expect(publish('spBv1.0/test-plant/DCMD/gw-test/plc-1', [{ name: 'level', datatype: 'UInt16', value: 999 }]).status).toBe(0);
    await waitFor('the refusal to be counted', async () => (await g.status()).sparkplug.commandsRefused === 1, 10_000);
    expect(plc.getHolding(10)[0]).toBe(5);

    // The PLC stops answering: DDEATH; it answers again: a fresh DBIRTH with its current values.
    plc.pause(true);
    const [ddeath] = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/DDEATH/gw-test/plc-1', 1, 20_000);
    expect(typeof ddeath!.payload.seq).toBe('number');
    plc.setHolding(10, [6]);
    plc.pause(false);
    const [dbirth] = await sub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/DBIRTH/gw-test/plc-1' && m.at > ddeath!.at, 1, 30_000);
    expect(dbirth!.payload.metrics.map((m) => [m.name, m.value])).toEqual([['level', 6], ['setpoint', 42]]);
    // One seq counter, no jumps, across the death and the birth.
    const fromNode = sub.messages.filter((m) => !/\/(NCMD|DCMD)\//.test(m.topic));
    const seqs = fromNode.map((m) => m.payload.seq!);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) % 256);
  });
});
