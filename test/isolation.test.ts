// Isolation of devices: of three simulated PLCs one stops answering and one answers too slowly for its timeout.
// The healthy one must keep its poll interval (median within 10 % of its setting, measured at the PLC from the
// arrival time of each request), and the failing one must come back on its own when it answers again. On the
// way: quality published with each value (stale before the DDEATH), a deadband configured per tag, and the
// quality carried into the journal's records.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { ROOT } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { journalRecords } from './helpers/journal.js';
import { MosquittoSub } from './helpers/mosquitto-sub.js';
import { sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();

interface Plc {
  port: number;
  requestLog: number[];
  setHolding(addr: number, words: number[]): void;
  pause(on: boolean): void;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

const POLL_MS = 200;
const DDATA = (device: string) => `spBv1.0/test-plant/DDATA/gw-test/${device}`;
const DDEATH = (device: string) => `spBv1.0/test-plant/DDEATH/gw-test/${device}`;
const DBIRTH = (device: string) => `spBv1.0/test-plant/DBIRTH/gw-test/${device}`;

const device = (name: string, port: number, timeout: string, tags: string) => `
  - name: ${name}
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: ${POLL_MS}ms
    timeout: ${timeout}
    down_after: 3
    tags:${tags}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe('device isolation', () => {
  it('a failing and a slow device do not delay a healthy one; the failing one recovers on its own', { timeout: 180_000 }, async () => {
    const plc = async (delay = 0): Promise<Plc> => {
      const p = (await startSimulatedPlc({ port: 0, delay, holding: { 10: [100, 7] } })) as Plc;
      cleanups.push(() => p.close());
      return p;
    };
    const healthy = await plc();
    const failing = await plc();
    const slow = await plc(1000); // answers after 1 s; its timeout is 300 ms

    const g = await GatewayProcess.create({
      extraYaml: `devices:${[
        device('healthy', healthy.port, '500ms', `
      - { name: level, table: holding, address: 10, type: uint16, deadband: 2 }
      - { name: flow, table: holding, address: 11, type: uint16 }`),
        device('failing', failing.port, '300ms', `
      - { name: level, table: holding, address: 10, type: uint16 }`),
        device('slow', slow.port, '300ms', `
      - { name: level, table: holding, address: 10, type: uint16 }`),
      ].join('')}`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    const sub = new MosquittoSub(g.ports.mqtt);
    cleanups.push(() => sub.stop());
    await sub.start();

    const state = async () => Object.fromEntries(((await g.status()).devices as Array<{ name: string; state: string }>).map((d) => [d.name, d.state]));
    await waitFor('healthy and failing up, slow down', async () => {
      const s = await state();
      return s.healthy === 'up' && s.failing === 'up' && s.slow === 'down';
    }, 20_000);

    // The deadband of the healthy device's level (2) reaches the gateway: 101 is within it, 103 is not.
    healthy.setHolding(10, [101]);
    await sleep(3 * POLL_MS);
    healthy.setHolding(10, [103]);
    const [levelData] = await sub.waitForCount((m) => m.topic === DDATA('healthy') && m.payload.metrics.some((x) => x.name === 'level'), 1, 10_000);
    expect(levelData!.payload.metrics.map((m) => [m.name, m.value, m.properties])).toEqual([['level', 103, { Quality: 192 }]]);

    // The failing PLC stops answering (TCP stays up, requests are swallowed): its values go stale, then DDEATH.
    const t0 = Date.now();
    failing.pause(true);
    const [death] = await sub.waitForCount((m) => m.topic === DDEATH('failing'), 1, 20_000);
    const stale = sub.messages.filter((m) => m.topic === DDATA('failing') && m.at >= t0 && m.at <= death!.at);
    expect(stale.flatMap((m) => m.payload.metrics.map((x) => [x.name, x.value, x.properties]))).toEqual([['level', 100, { Quality: 500 }]]);
    const downAfterMs = death!.at - t0;
    expect((await state()).failing).toBe('down');

    // Down for a while: it backs off, the healthy device keeps its pace.
    await sleep(8_000);
    const t1 = Date.now();
    failing.setHolding(10, [55]);
    failing.pause(false);
    slow.setDelay(0);
    const [birth] = await sub.waitForCount((m) => m.topic === DBIRTH('failing') && m.at > t1, 1, 45_000);
    expect(birth!.payload.metrics.map((m) => [m.name, m.value, m.properties])).toEqual([['level', 55, { Quality: 192 }]]);
    const recoveredAfterMs = birth!.at - t1;
    await waitFor('the slow device to come up once it answers in time', async () => (await state()).slow === 'up', 45_000);
    const t2 = Date.now();

    // The healthy device's poll intervals, at the PLC, from the outage to the end.
    const arrivals = healthy.requestLog.filter((t) => t >= t0 && t <= t2);
    const intervals = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((a, b) => a - b);
    const figures = {
      settingMs: POLL_MS,
      windowMs: t2 - t0,
      polls: arrivals.length,
      expectedPolls: Math.floor((t2 - t0) / POLL_MS),
      medianMs: percentile(intervals, 50),
      meanMs: Math.round(((arrivals.at(-1)! - arrivals[0]!) / (arrivals.length - 1)) * 10) / 10,
      p95Ms: percentile(intervals, 95),
      minMs: intervals[0],
      maxMs: intervals.at(-1),
      failingDownAfterMs: downAfterMs,
      failingBackAfterMs: recoveredAfterMs,
    };
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    writeFileSync(join(ROOT, 'test-output', 'isolation.json'), JSON.stringify(figures, null, 2));
    console.log(`isolation: ${JSON.stringify(figures)}`);
    expect(figures.medianMs).toBeGreaterThanOrEqual(POLL_MS * 0.9);
    expect(figures.medianMs).toBeLessThanOrEqual(POLL_MS * 1.1);
    // The grid holds on average too: no drift, no lost ticks beyond a few on a busy machine.
    expect(figures.meanMs).toBeLessThanOrEqual(POLL_MS * 1.1);
    expect(figures.polls).toBeGreaterThanOrEqual(figures.expectedPolls * 0.9);

    const s = (await g.status()).devices as Array<{ name: string; errors: number; state: string }>;
    expect(s.find((d) => d.name === 'healthy')).toMatchObject({ state: 'up', errors: 0 });
    expect(s.find((d) => d.name === 'failing')!.errors).toBeGreaterThan(3);
    // One log line when each outage starts and one when it ends, not one per retry.
    const logs = g.logLines();
    const lines = (re: RegExp) => logs.filter((l) => re.test(l.msg)).length;
    expect(lines(/"failing" missed a poll/)).toBe(1);
    expect(lines(/"failing" is not answering; declared down/)).toBe(1);
    expect(lines(/"failing" answers again/)).toBe(1);
    expect(lines(/"slow" is not answering; declared down/)).toBe(1);
    expect(lines(/"healthy" (missed|is not answering)/)).toBe(0);

    // The journal's records carry the quality of every metric (what the cloud receives in Kafka).
    expect(await g.stop()).toBe(0);
    const records = journalRecords(join(g.dir, 'data', 'journal.db')).map((r) => ({ key: r.key, ...JSON.parse(r.value) }));
    const metricsOf = (key: string, type: string) => records.filter((r) => r.key === `test-plant/gw-test/${key}` && r.type === type).flatMap((r) => r.metrics);
    expect(metricsOf('failing', 'data').filter((m: any) => m.quality === 'stale')).toEqual([expect.objectContaining({ name: 'level', value: 100, quality: 'stale' })]);
    expect(metricsOf('healthy', 'birth').map((m: any) => [m.name, m.quality])).toEqual([['level', 'good'], ['flow', 'good']]);
    expect(metricsOf('failing', 'birth').map((m: any) => [m.value, m.quality])).toEqual([[100, 'good'], [55, 'good']]);
  });
});

