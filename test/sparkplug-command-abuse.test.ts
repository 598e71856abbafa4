// Hostile commands against the running gateway: whatever a DCMD holds, it gives at most one bounded log line,
// nothing reaches the PLC that the tag's birth does not allow, and the gateway goes on polling and publishing.
import { statSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { createRequire } from 'node:module';
import { encodePayload } from '../src/edge/sparkplug/codec.js';
import { commandedPlcYaml } from './helpers/primary-host.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { encode(m: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;
const DCMD = 'spBv1.0/test-plant/DCMD/gw-test/plc-1';

describe('hostile Sparkplug commands', () => {
  it('a huge value, 50,000 unknown metrics, an unknown datatype code and a refusal flood: bounded log lines, no write', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [1]);
    plc.setHolding(11, [5]);
    const g = await GatewayProcess.create({ extraYaml: commandedPlcYaml(plc.port) });
    cleanups.push(() => g.kill());
    await g.start();
    await waitFor('the node online, its device born', async () => {
      const s = await g.status();
      return s.sparkplug.state === 'online' && s.devices[0].polls > 0;
    }, 15_000);
    const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.ports.mqtt}`, { clientId: 'hostile-host', reconnectPeriod: 0 });
    cleanups.push(() => host.endAsync(true));
    const logBytes = () => statSync(g.logFile).size;
    const refusalLines = () => g.logLines().filter((l) => /^(Refused|Ignored) \d+ of \d+ metrics/.test(String(l.msg)));

    // 1. A 4 MB string for an integer tag, under a 4 KB metric name for a tag that does not exist.
    const before = logBytes();
    const huge = 'x'.repeat(4_000_000);
    await host.publishAsync(DCMD, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [
      { name: 'setpoint', datatype: 'String', value: huge }, { name: 'n'.repeat(4096), datatype: 'String', value: huge },
    ] })), { qos: 1 });
    await waitFor('the first refusal', () => refusalLines().length === 1, 15_000);
    expect(refusalLines()[0]!.msg).toMatch(/Refused 2 of 2 metrics/);
    expect(logBytes() - before).toBeLessThan(4096);

    // 2. 50,000 metrics nobody declared: one line, every one counted.
    const refusedBefore = (await g.status()).sparkplug.commandsRefused;
    const many = Array.from({ length: 50_000 }, (_, i) => ({ name: `ghost/${i}`, datatype: 'UInt16' as const, value: i }));
    const before2 = logBytes();
    await host.publishAsync(DCMD, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: many })), { qos: 1 });
    await waitFor('the second refusal', () => refusalLines().length === 2, 15_000);
    expect(refusalLines()[1]!.msg).toMatch(/Refused 50000 of 50000 metrics.*50000 × no such metric/);
    expect(logBytes() - before2).toBeLessThan(4096);
    expect((await g.status()).sparkplug.commandsRefused).toBe(refusedBefore + 50_000);

    // 3. A datatype code that is no Sparkplug datatype, for the writable tag: refused, never written.
    await host.publishAsync(DCMD, Buffer.from(ProtoPayload.encode({ timestamp: Date.now(), metrics: [{ name: 'setpoint', datatype: 99, intValue: 42 }] }).finish()), { qos: 1 });
    await waitFor('the third refusal', () => refusalLines().length === 3, 15_000);
    expect(refusalLines()[2]!.msg).toMatch(/datatype code 99/);
    await sleep(500);
    expect(plc.getHolding(11)).toEqual([5]);

    // 4. A flood of refused commands: at most 10 refusal lines a minute, the rest counted.
    const bad = Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'level', datatype: 'Int16', value: 3 }] }));
    for (let i = 0; i < 40; i++) await host.publishAsync(DCMD, bad, { qos: 1 });
    await waitFor('the flood to be counted', async () => (await g.status()).sparkplug.commandsRefused === refusedBefore + 50_000 + 1 + 40, 15_000);
    expect(refusalLines().length).toBeLessThanOrEqual(10);
    const metrics = await (await fetch(g.url('/metrics'))).text();
    const suppressed = Number(/edge_gateway_sparkplug_refusal_log_lines_suppressed_total (\d+)/.exec(metrics)?.[1]);
    expect(suppressed).toBe(3 + 40 - refusalLines().length);

    // Still polling and publishing: a good write reaches the PLC.
    await host.publishAsync(DCMD, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'setpoint', datatype: 'UInt16', value: 42 }] })), { qos: 1 });
    await waitFor('the good write', () => plc.getHolding(11)[0] === 42, 10_000);
    expect(g.logs()).not.toMatch(/\n\s+at /);
  });
});
