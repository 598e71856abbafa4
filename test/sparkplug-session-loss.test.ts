// What a lost MQTT session does to the edge node's births: the host's STATE is read again in every session,
// bdSeq advances once per CONNECT sent (not per failed attempt), and a retained command is not obeyed.
// The node reaches the site broker through a TCP proxy, so the test can cut and restore the link; both brokers.
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { encodePayload } from '../src/edge/sparkplug/codec.js';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, type SeenMessage } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { connectHost, HOST, hostedNodeYaml, publishState, STATE } from './helpers/primary-host.js';
import { BROKER_KINDS, startSiteBroker, type BrokerKind } from './helpers/site-broker.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const verb = (m: SeenMessage) => m.topic.split('/')[2]!;
const bdSeqOf = (m: SeenMessage) => m.payload.metrics.find((x) => x.name === 'bdSeq')?.value;
const own = (sub: MosquittoSub) => sub.messages.filter((m) => m.topic !== STATE);

/** A PLC, a site broker, a subscriber on it, and a gateway whose edge node reaches the broker through a proxy. */
async function startSite(kind: BrokerKind, sparkplug: string) {
  const plc = await startSimulatedPlc({ port: await freePort() });
  cleanups.push(() => plc.close());
  plc.setHolding(10, [1]);
  const broker = await startSiteBroker(kind);
  cleanups.push(() => broker.stop());
  const sub = new MosquittoSub(broker.port);
  await sub.start();
  cleanups.push(() => sub.stop());
  const link = { proxy: await startTcpProxy({ targetPort: broker.port }) };
  cleanups.push(() => link.proxy.close());
  const g = await GatewayProcess.create({ embeddedBroker: false, ports: { mqtt: link.proxy.port, http: await freePort() }, extraYaml: hostedNodeYaml(plc.port, sparkplug) });
  cleanups.push(() => g.kill());
  await g.start();
  /** The link goes down: every connection through it is dropped, and new ones are refused until `restore`. */
  const cut = () => link.proxy.close();
  const restore = async (): Promise<TcpProxy> => (link.proxy = await startTcpProxy({ targetPort: broker.port, port: link.proxy.port }));
  return { plc, broker, sub, g, cut, restore };
}

describe.each(BROKER_KINDS)('Sparkplug session loss with the %s broker', (kind) => {
  it('after a lost session, births wait for an online STATE read in the new session', async () => {
    const { broker, sub, g, cut, restore } = await startSite(kind, `{ primary_host: ${HOST} }`);
    const t1 = Date.now();
    const host = await connectHost(broker.port, t1);
    cleanups.push(() => host.endAsync(true));
    const [nbirth] = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);

    // The link drops; while the node is away, the host goes offline (its retained STATE says so).
    await cut();
    const [will] = await sub.waitForCount((m) => verb(m) === 'NDEATH', 1, 40_000);
    expect(bdSeqOf(will!)).toBe(bdSeqOf(nbirth!));
    await host.endAsync(true);
    await publishState(broker.port, false, t1 + 1);
    await waitFor('the node to notice the lost session', async () => (await g.status()).sparkplug.state !== 'online', 10_000);

    // The link returns: the node reads the offline STATE of its new session and stays silent.
    await restore();
    await waitFor('the node to wait for its host in the new session', async () => {
      const s = (await g.status()).sparkplug;
      return s.state === 'waiting_for_host' && s.primaryHost?.online === false;
    }, 20_000);
    await sleep(1500);
    expect(own(sub).filter((m) => m.at > will!.at).map(verb)).toEqual([]);

    // A fresh online STATE: births now, with the bdSeq of the new CONNECT.
    const host2 = await connectHost(broker.port, Date.now());
    cleanups.push(() => host2.endAsync(true));
    const births = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 2);
    await sub.waitForCount((m) => verb(m) === 'DBIRTH' && m.at >= births[1]!.at, 1);
    expect(bdSeqOf(births[1]!)).toBe(((bdSeqOf(nbirth!) as number) + 1) % 256);
    expect(own(sub).filter((m) => m.at > will!.at).slice(0, 2).map(verb)).toEqual(['NBIRTH', 'DBIRTH']);
  });

  it('bdSeq advances by one per CONNECT sent, not per failed connection attempt during a broker outage', async () => {
    const { sub, g, cut, restore } = await startSite(kind, '{}');
    const [nbirth] = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    const before = (await g.status()).sparkplug;
    expect(before.bdSeq).toBe(bdSeqOf(nbirth!));

    await cut();
    // Several refused connection attempts (the node backs off from 0.5 s, doubling).
    await waitFor('three failed connection attempts', async () => (await g.status()).sparkplug.connectFailures >= before.connectFailures + 3, 30_000, 100);
    await restore();
    const births = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 2, 30_000);
    const deaths = sub.messages.filter((m) => verb(m) === 'NDEATH');
    expect(deaths.map(bdSeqOf)).toEqual([bdSeqOf(nbirth!)]);
    expect(bdSeqOf(births[1]!)).toBe(((bdSeqOf(nbirth!) as number) + 1) % 256);
    const after = (await g.status()).sparkplug;
    expect(after.bdSeq).toBe(bdSeqOf(births[1]!));
  });

  it('a retained rebirth command is ignored and counted, a live one is obeyed', async () => {
    const { broker, sub, g, cut, restore } = await startSite(kind, '{}');
    await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    // A host that wrongly retains its rebirth request; the node meets it at its next subscribe.
    const rebirth = Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }] }));
    const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'careless-host', reconnectPeriod: 0 });
    cleanups.push(() => host.endAsync(true));
    const ncmd = 'spBv1.0/test-plant/NCMD/gw-test';
    await host.publishAsync(ncmd, rebirth, { qos: 1, retain: true });
    // Delivered live now (retain is cleared on delivery to existing subscribers): one rebirth.
    await waitFor('the live rebirth', async () => (await g.status()).sparkplug.rebirths === 1, 10_000);
    await sub.waitForCount((m) => verb(m) === 'NBIRTH', 2);

    // A new session: the broker hands the retained request over with the subscription.
    await cut();
    await waitFor('the node to notice the lost session', async () => (await g.status()).sparkplug.state !== 'online', 10_000);
    await restore();
    await sub.waitForCount((m) => verb(m) === 'NBIRTH', 3, 30_000);
    await waitFor('the retained request to be ignored', async () => (await g.status()).sparkplug.retainedCommandsIgnored === 1, 10_000);
    const s = (await g.status()).sparkplug;
    expect(s.rebirths).toBe(1);
    expect(sub.messages.filter((m) => verb(m) === 'NBIRTH')).toHaveLength(3);
    expect(g.logLines().filter((l) => String(l.msg).startsWith('Ignored a retained Sparkplug command'))).toHaveLength(1);
    const metrics = await (await fetch(g.url('/metrics'))).text();
    expect(metrics).toMatch(/edge_gateway_sparkplug_commands_ignored_total\{reason="retained"\} 1/);
    await host.publishAsync(ncmd, Buffer.alloc(0), { qos: 1, retain: true }); // clears it
  });
});
