// Fuzz: garbage, truncated, oversized and odd-but-parseable MQTT packets against the running gateway's broker,
// many sockets at a time. Afterwards the broker still admits a good client, a publish still reaches a good
// subscriber, the edge node is still born in the same session, the process printed no stack trace, and its
// memory came back.
import { connect as tcpConnect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../../scripts/sim-plc.mjs';
import { fuzzSeed, type Rng } from '../helpers/fuzz.js';
import { GatewayProcess } from '../helpers/gateway.js';
import { connect, DISCONNECT, field, packet, PINGREQ, publish, remainingLength, subscribe } from '../helpers/mqtt-bytes.js';
import { freePort, sleep, waitFor } from '../helpers/net.js';
import { hostedNodeYaml } from '../helpers/primary-host.js';
import { medianRssMb, settledRssMb } from '../helpers/rss.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const TOPICS = ['spBv1.0/test-plant/NCMD/gw-test', 'spBv1.0/test-plant/DCMD/gw-test/plc-1', 'a/b', '#', '+/+', 'a/#/b', '', '\u0000', '$SYS/x', 'x'.repeat(60_000)];

/** What one hostile connection sends, as a list of writes. */
function randomSession(r: Rng): Buffer[] {
  const topic = () => (r.chance(0.2) ? r.bytes(r.int(20)) : r.pick(TOPICS));
  const good = () => connect({ clientId: r.chance(0.1) ? 'edge-gateway:test-plant:gw-test' : `fuzz-${r.int(1e6)}`, keepalive: r.int(3) });
  switch (r.int(9)) {
    case 0: return [r.bytes(1 + r.int(2000))]; // noise
    case 1: return [good().subarray(0, r.int(good().length))]; // a truncated CONNECT
    case 2: return [Buffer.concat([Buffer.from([0x10]), remainingLength(r.pick([2 ** 28 - 1, 64 * 1024 * 1024, 300_000])), r.bytes(r.int(5000))])]; // oversized
    case 3: return [publish(topic(), r.bytes(r.int(100)))]; // PUBLISH before CONNECT
    case 4: return [connect({ clientId: r.bytes(r.int(30)), protocolLevel: r.pick([3, 4, 5, 255]), protocolName: r.pick(['MQTT', 'MQIsdp', 'HTTP']), flags: r.chance(0.5) ? r.int(256) : undefined })];
    case 5: return [good(), subscribe(r.int(65536), [{ filter: topic(), qos: r.int(4) }]), publish(topic(), r.bytes(r.int(500)), { qos: r.int(3), id: r.int(65536) })];
    case 6: return [good(), packet(r.int(256), r.bytes(r.int(200)))]; // a random packet type after login
    case 7: return [good(), PINGREQ, PINGREQ, DISCONNECT, r.bytes(r.int(50))];
    default: return [good(), Buffer.concat([Buffer.from([0x30]), remainingLength(r.pick([20 * 1024 * 1024, 2 ** 28 - 1])), field('a/b'), r.bytes(r.int(20_000))])];
  }
}

function runSession(port: number, writes: Buffer[], r: Rng): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = tcpConnect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    // A few are left open to be closed by the broker's own timeouts; most hang up after a moment.
    const timer = setTimeout(done, r.chance(0.1) ? 6000 : 50 + r.int(300));
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => undefined);
    s.on('connect', () => {
      // Now and then a client that resets the connection before its first byte, or right after it.
      if (r.chance(0.05)) {
        setTimeout(() => s.resetAndDestroy(), r.int(50));
        return;
      }
      for (const w of writes) if (!s.destroyed) s.write(w);
      if (r.chance(0.05)) s.resetAndDestroy();
    });
  });
}

describe('fuzz: MQTT packets against the broker', () => {
  it('the broker survives garbage, truncated and oversized packets, and memory comes back', { timeout: 240_000 }, async () => {
    const r = fuzzSeed('mqtt-packets');
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [1]);
    const g = await GatewayProcess.create({ extraYaml: hostedNodeYaml(plc.port, '{}') });
    cleanups.push(() => g.kill());
    await g.start();
    await waitFor('the node online', async () => (await g.status()).sparkplug.state === 'online', 15_000);
    const pid = g.child!.pid!;
    const before = await g.status();
    const rssBefore = await medianRssMb(pid);

    const SESSIONS = 1500;
    const PARALLEL = 50;
    let sent = 0;
    let bytes = 0;
    let peak = rssBefore;
    const started = Date.now();
    // PARALLEL connections open at any time, each worker starting the next session when its last one ended.
    let next = 0;
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < SESSIONS) {
        const i = next++;
        const writes = randomSession(r);
        sent += writes.length;
        bytes += writes.reduce((n, w) => n + w.length, 0);
        await runSession(g.ports.mqtt, writes, r);
        if (i % 100 === 0) peak = Math.max(peak, await medianRssMb(pid, 1));
      }
    }));
    const burstMs = Date.now() - started;
    expect(g.child!.exitCode).toBeNull();

    // A good subscriber gets a good publish; the edge node kept its session (same bdSeq) and still publishes.
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.ports.mqtt}`, { clientId: 'fuzz-after-sub', reconnectPeriod: 0 });
    cleanups.push(() => sub.endAsync(true));
    const got: string[] = [];
    sub.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
    await sub.subscribeAsync(['fuzz/ok', 'spBv1.0/test-plant/DDATA/gw-test/#'], { qos: 1 });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.ports.mqtt}`, { clientId: 'fuzz-after-pub', reconnectPeriod: 0 });
    cleanups.push(() => pub.endAsync(true));
    await pub.publishAsync('fuzz/ok', 'still here', { qos: 1 });
    plc.setHolding(10, [2]);
    await waitFor('the good publish and a DDATA', () => got.includes('fuzz/ok still here') && got.some((m) => m.includes('/DDATA/')), 15_000);
    const after = await g.status();
    expect(after.sparkplug.state).toBe('online');
    expect(after.sparkplug.bdSeq).toBe(before.sparkplug.bdSeq);
    expect(after.devices[0].polls).toBeGreaterThan(before.devices[0].polls);
    // The DDATA is published as it is captured; its commit follows within the commit interval.
    await waitFor('the DDATA committed to the journal', async () => (await g.status()).journal.nextSeq > before.journal.nextSeq, 10_000);

    await sleep(1000);
    const settled = await settledRssMb(pid, rssBefore, 1.1, 90_000);
    console.log(`fuzz mqtt-packets: ${SESSIONS} connections, ${sent} writes, ${(bytes / 1048576).toFixed(1)} MiB sent in ${burstMs} ms; crashes 0; RSS before ${rssBefore.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, after ${settled.mb.toFixed(1)} MB (${settled.afterMs} ms after the burst)`);
    expect(settled.mb).toBeLessThanOrEqual(rssBefore * 1.1);
    expect(g.logs()).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  });
});
