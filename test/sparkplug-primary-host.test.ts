// The primary host application: births wait for its STATE online, data is held while it is offline and sent as
// historical after a fresh birth sequence; stale STATE messages are ignored. Runs against both site brokers.
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, type SeenMessage } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { connectHost, HOST, hostedNodeYaml, publishState, STATE } from './helpers/primary-host.js';
import { BROKER_KINDS, startSiteBroker, type BrokerKind } from './helpers/site-broker.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const verb = (m: SeenMessage) => m.topic.split('/')[2]!;
const bdSeqOf = (m: SeenMessage) => m.payload.metrics.find((x) => x.name === 'bdSeq')?.value;

/** A PLC, a site broker of `kind` with a subscriber, and a gateway whose edge node waits for the primary host. */
async function startSite(kind: BrokerKind) {
  const plc = await startSimulatedPlc({ port: await freePort() });
  cleanups.push(() => plc.close());
  plc.setHolding(10, [1]);
  const broker = await startSiteBroker(kind);
  cleanups.push(() => broker.stop());
  const sub = new MosquittoSub(broker.port);
  await sub.start();
  cleanups.push(() => sub.stop());
  const g = await GatewayProcess.create({ embeddedBroker: false, ports: { mqtt: broker.port, http: await freePort() }, extraYaml: hostedNodeYaml(plc.port, `{ primary_host: ${HOST} }`) });
  cleanups.push(() => g.kill());
  await g.start();
  return { plc, broker, sub, g };
}

describe.each(BROKER_KINDS)('Sparkplug B primary host with the %s broker', (kind) => {
  it('births wait for the host; its offline STATE ends the session with NDEATH; held data follows the next births as historical', async () => {
    const { plc, broker, sub, g } = await startSite(kind);

    // No host yet: connected, subscribed, but silent. Values change meanwhile and are held.
    await waitFor('the node to wait for its host, its device polled', async () => {
      const s = await g.status();
      return s.sparkplug.state === 'waiting_for_host' && s.devices[0].polls > 0;
    }, 10_000);
    // One change at a time, each once it is held (polled and captured while the node waits).
    for (const [i, v] of [2, 3].entries()) {
      plc.setHolding(10, [v]);
      await waitFor(`${v} to be held`, async () => (await g.status()).sparkplug.held >= i + 1, 10_000, 20);
    }
    expect(sub.messages.filter((m) => m.topic !== STATE)).toEqual([]);

    // The host comes online: NBIRTH, DBIRTH, then the held values as historical.
    const t1 = Date.now();
    const host = await connectHost(broker.port, t1);
    cleanups.push(() => host.endAsync(true));
    const [nbirth1] = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    const [hist1] = await sub.waitForCount((m) => verb(m) === 'DDATA' && m.payload.metrics.every((x) => x.isHistorical), 1);
    expect(hist1!.payload.metrics.map((m) => m.value)).toEqual([2, 3]);
    const ownAfter = (m: SeenMessage) => sub.messages.filter((x) => x.topic !== STATE && x.at >= m.at);
    expect(ownAfter(nbirth1!).slice(0, 3).map(verb)).toEqual(['NBIRTH', 'DBIRTH', 'DDATA']);

    // A late, stale offline STATE (older than the host's online) is ignored: no NDEATH.
    await publishState(broker.port, false, t1 - 60_000);
    await waitFor('the stale STATE to be ignored', () => g.logLines().some((l) => String(l.msg).startsWith('Ignored a stale STATE')), 10_000);
    await sleep(300);
    expect(sub.messages.some((m) => verb(m) === 'NDEATH')).toBe(false);
    expect((await g.status()).sparkplug.state).toBe('online');
    // Restore the retained online STATE that the stale message replaced on the broker.
    await publishState(broker.port, true, t1);

    // The host goes offline (its will, timestamped with its online STATE): NDEATH at once, then a new session waits.
    host.stream.destroy();
    const [ndeath] = await sub.waitForCount((m) => verb(m) === 'NDEATH', 1, 15_000);
    expect(bdSeqOf(ndeath!)).toBe(bdSeqOf(nbirth1!));
    await waitFor('the node to wait for its host again', async () => (await g.status()).sparkplug.state === 'waiting_for_host', 10_000);
    const heldFrom = Date.now();
    for (const [i, v] of [4, 5, 6].entries()) {
      plc.setHolding(10, [v]);
      await waitFor(`${v} to be held`, async () => (await g.status()).sparkplug.held >= i + 1, 10_000, 20);
    }
    expect(sub.messages.filter((m) => m.at > ndeath!.at && m.topic !== STATE)).toEqual([]);

    // The host returns: a fresh birth sequence with the new session's bdSeq, then the held data as historical.
    const host2 = await connectHost(broker.port, Date.now());
    cleanups.push(() => host2.endAsync(true));
    const births = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 2);
    expect(bdSeqOf(births[1]!)).not.toBe(bdSeqOf(nbirth1!));
    const hist = await sub.waitForCount((m) => verb(m) === 'DDATA' && m.payload.metrics.every((x) => x.isHistorical), 2);
    expect(hist[1]!.payload.metrics.map((m) => m.value)).toEqual([4, 5, 6]);
    expect(hist[1]!.payload.metrics.every((m) => m.timestamp! >= heldFrom - 50 && m.timestamp! < births[1]!.payload.timestamp)).toBe(true);
    expect(ownAfter(births[1]!).slice(0, 3).map(verb)).toEqual(['NBIRTH', 'DBIRTH', 'DDATA']);

    // Live data flows again, not historical.
    plc.setHolding(10, [7]);
    const [live] = await sub.waitForCount((m) => m.at > births[1]!.at && verb(m) === 'DDATA' && m.payload.metrics.some((x) => x.value === 7), 1);
    expect(live!.payload.metrics.every((x) => !x.isHistorical)).toBe(true);
    const status = (await g.status()).sparkplug;
    expect(status.primaryHost).toMatchObject({ id: HOST, online: true });
    expect(status.historicalPublished).toBe(5);
  });
});

describe('Sparkplug B held data across a gateway crash', () => {
  it('data held while the host is offline survives a SIGKILL and follows the births after the restart as historical', async () => {
    const { plc, broker, sub, g } = await startSite('mosquitto');
    await waitFor('the node to wait for its host, its device polled', async () => {
      const s = await g.status();
      return s.sparkplug.state === 'waiting_for_host' && s.devices[0].polls > 0;
    }, 10_000);
    const heldFrom = Date.now();
    for (const v of [2, 3]) {
      plc.setHolding(10, [v]);
      await waitFor(`the value ${v} to be held`, async () => (await g.status()).sparkplug.held === v - 1, 10_000);
    }

    // A crash, then a restart while the host is still away: the held values are read back from data_dir.
    await g.kill();
    plc.setHolding(10, [4]);
    await g.start();
    await waitFor('the restarted node to hold what the crashed one held', async () => (await g.status()).sparkplug.held === 2, 10_000);
    // Nothing but the crashed session's will: no births without the host.
    expect(sub.messages.filter((m) => m.topic !== STATE).map(verb)).toEqual(['NDEATH']);

    // The host comes online: births, then the values held before the crash, historical, with their own timestamps.
    const host = await connectHost(broker.port, Date.now());
    cleanups.push(() => host.endAsync(true));
    const [nbirth] = await sub.waitForCount((m) => verb(m) === 'NBIRTH', 1);
    const [dbirth] = await sub.waitForCount((m) => verb(m) === 'DBIRTH', 1);
    expect(dbirth!.payload.metrics.map((m) => m.value)).toEqual([4]);
    const [hist] = await sub.waitForCount((m) => verb(m) === 'DDATA' && m.payload.metrics.every((x) => x.isHistorical), 1);
    expect(hist!.payload.metrics.map((m) => m.value)).toEqual([2, 3]);
    expect(hist!.payload.metrics.every((m) => m.timestamp! >= heldFrom - 50 && m.timestamp! < nbirth!.payload.timestamp)).toBe(true);
    const status = (await g.status()).sparkplug;
    expect(status.held).toBe(0);
    expect(status.historicalPublished).toBe(2);
    expect(await g.stop()).toBe(0);
  });
});
