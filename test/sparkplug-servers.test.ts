// Redundant MQTT servers (sparkplug.servers): the edge node is connected to one server at a time and goes on to the
// next when the primary host goes offline on its server (or is offline there while the node waits for it), when a host
// sends Node Control/Next Server, or when its server cannot be reached. Server A is our own broker process, server B
// Debian's Mosquitto; the primary host application (mqtt.js) is connected to both.
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub, type SeenMessage } from './helpers/mosquitto-sub.js';
import { freePort, sleep } from './helpers/net.js';
import { connectHost, HOST, hostedNodeYaml, publishState } from './helpers/primary-host.js';
import { startSiteBroker } from './helpers/site-broker.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const verb = (m: SeenMessage) => m.topic.split('/')[2]!;
const bdSeqOf = (m: SeenMessage) => m.payload.metrics.find((x) => x.name === 'bdSeq')?.value as number;
const own = (sub: MosquittoSub) => sub.messages.filter((m) => m.topic.startsWith('spBv1.0/test-plant/') && !/\/(NCMD|DCMD)\//.test(m.topic));

/** mosquitto_sub on each server. */
async function subscribe(...ports: number[]): Promise<MosquittoSub[]> {
  const subs = ports.map((port) => new MosquittoSub(port));
  for (const s of subs) {
    await s.start();
    cleanups.push(() => s.stop());
  }
  return subs;
}

/** The gateway with one PLC, waiting for the primary host, with the servers A then B. */
async function startNode(plcPort: number, a: number, b: number): Promise<GatewayProcess> {
  const g = await GatewayProcess.create({
    embeddedBroker: false,
    ports: { mqtt: a, http: await freePort() },
    extraYaml: hostedNodeYaml(plcPort, `{ primary_host: ${HOST}, servers: [127.0.0.1:${a}, 127.0.0.1:${b}] }`),
  });
  cleanups.push(() => g.kill());
  await g.start();
  return g;
}

describe('Sparkplug B with redundant MQTT servers', () => {
  it('one server at a time; the host going offline, Node Control/Next Server, or an unreachable server sends the node to the next', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [1]);
    const a = await startSiteBroker('edge-gateway');
    cleanups.push(() => a.stop());
    const b = await startSiteBroker('mosquitto');
    cleanups.push(() => b.stop());
    const [subA, subB] = await subscribe(a.port, b.port);
    const t1 = Date.now();
    const hostA = await connectHost(a.port, t1);
    const hostB = await connectHost(b.port, t1);
    cleanups.push(() => hostA.end(true), () => hostB.end(true));

    const g = await startNode(plc.port, a.port, b.port);

    // Born on the first server only.
    const [birthA] = await subA.waitForCount((m) => verb(m) === 'DBIRTH', 1);
    const nbirthA = own(subA).find((m) => verb(m) === 'NBIRTH')!;
    expect(nbirthA).toBeDefined();
    expect(birthA!.payload.metrics.find((m) => m.name === 'level')?.value).toBe(1);
    await sleep(500);
    expect(own(subB)).toEqual([]);

    // The host loses server A (its will says offline there): NDEATH on A, then the whole session moves to B.
    hostA.stream.destroy();
    const [death] = await subA.waitForCount((m) => verb(m) === 'NDEATH', 1);
    expect(bdSeqOf(death!)).toBe(bdSeqOf(nbirthA));
    plc.setHolding(10, [2]); // changes during the move are held and published on B as historical
    await g.waitForTag('plc-1', 'level', 2); // polled, whenever the move lets that happen
    const [nbirthB] = await subB.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    expect(bdSeqOf(nbirthB!)).toBe((bdSeqOf(nbirthA) + 1) % 256);
    await subB.waitForCount((m) => verb(m) === 'DBIRTH', 1);
    expect(own(subB).slice(0, 2).map(verb)).toEqual(['NBIRTH', 'DBIRTH']);
    expect(own(subB).slice(0, 2).map((m) => m.payload.seq)).toEqual([0, 1]);
    plc.setHolding(10, [3]);
    await subB.waitForCount((m) => verb(m) === 'DDATA' && m.payload.metrics.some((x) => x.value === 3 && !x.isHistorical), 1);
    // [single-server] after its NDEATH, nothing more from the node on A.
    expect(own(subA).slice(own(subA).indexOf(death!) + 1)).toEqual([]);
    let s = (await g.status()).sparkplug;
    expect(s.server).toBe(`mqtt://127.0.0.1:${b.port}`);
    expect(s.serverSwitches).toBe(1);
    const metrics = await (await fetch(g.url('/metrics'))).text();
    expect(metrics).toMatch(/^edge_gateway_sparkplug_server_switches_total 1$/m);

    // The host is back on A (a newer online STATE) and asks the node, on B, to go on to the next server.
    const hostA2 = await connectHost(a.port, Date.now());
    cleanups.push(() => hostA2.end(true));
    const nbirths = () => own(subA).filter((m) => verb(m) === 'NBIRTH');
    expect(await mosquittoPub(b.port, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Next Server', datatype: 'Boolean', value: true }])).toBe(0);
    const [deathB] = await subB.waitForCount((m) => verb(m) === 'NDEATH', 1);
    expect(bdSeqOf(deathB!)).toBe(bdSeqOf(nbirthB!));
    await subA.waitForCount((m) => verb(m) === 'NBIRTH', 2);
    const nbirthA2 = nbirths()[1]!;
    expect(bdSeqOf(nbirthA2)).toBe((bdSeqOf(nbirthB!) + 1) % 256);
    expect(nbirthA2.payload.metrics.find((m) => m.name === 'Node Control/Next Server')).toMatchObject({ datatype: 'Boolean', value: false });
    await subA.waitForCount((m) => subA.messages.indexOf(m) > subA.messages.indexOf(nbirthA2) && verb(m) === 'DBIRTH', 1);
    expect((await g.status()).sparkplug.serverSwitches).toBe(2);

    // Server A goes away: the node cannot reach it again, skips it, and is born on B, where the host still is.
    const onB = own(subB).length;
    await a.stop();
    await subB.waitForCount((m) => own(subB).indexOf(m) >= onB && verb(m) === 'NBIRTH', 1, 30_000);
    await subB.waitForCount((m) => own(subB).indexOf(m) >= onB && verb(m) === 'DBIRTH', 1);
    plc.setHolding(10, [4]);
    await subB.waitForCount((m) => verb(m) === 'DDATA' && m.payload.metrics.some((x) => x.value === 4), 1);
    s = (await g.status()).sparkplug;
    expect(s.state).toBe('online');
    expect(s.server).toBe(`mqtt://127.0.0.1:${b.port}`);
    expect(s.serverSwitches).toBe(3);

    // The value set during the move reached B (held and historical, or in the DBIRTH if polled after the birth).
    expect(own(subB).some((m) => /^(DBIRTH|DDATA)$/.test(verb(m)) && m.payload.metrics.some((x) => x.name !== 'bdSeq' && x.value === 2))).toBe(true);
    expect(await g.stop()).toBe(0);
  });

  it('does not wait on a server where the host is offline: it goes on to the one where the host is online', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    const a = await startSiteBroker('mosquitto');
    cleanups.push(() => a.stop());
    const b = await startSiteBroker('edge-gateway');
    cleanups.push(() => b.stop());
    // The host lost server A (its retained STATE there says offline) and is online on B.
    await publishState(a.port, false, Date.now());
    const host = await connectHost(b.port, Date.now());
    cleanups.push(() => host.end(true));
    const [subA, subB] = await subscribe(a.port, b.port);
    const g = await startNode(plc.port, a.port, b.port);
    await subB.waitForCount((m) => verb(m) === 'NBIRTH', 1, 20_000);
    await subB.waitForCount((m) => verb(m) === 'DBIRTH', 1);
    // Nothing was born on A, so nothing was said there: no NBIRTH and no NDEATH.
    expect(own(subA)).toEqual([]);
    const s = (await g.status()).sparkplug;
    expect(s).toMatchObject({ state: 'online', server: `mqtt://127.0.0.1:${b.port}`, serverSwitches: 1 });
    expect(g.logs()).toContain('the primary host application is offline on it');
  });
});
