// The uplink's beginning and end with the real gateway process and a real Kafka broker: an orderly stop reaches the
// cloud with its NDEATH before the next start, and records that waited for an uplink added by a reload go out as
// historical, the live ones after them not.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, topicSize, type ConsumedRecord } from './helpers/kafka.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll, kafkaForFile } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const kafka = kafkaForFile();

const device = (port: number) => `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: 100ms
    timeout: 1s
    tags:
      - { name: count, table: holding, address: 2, type: uint16 }
`;
const uplink = (topic: string) => `uplink:\n  kafka: { brokers: [${kafka().bootstrap}], topic: ${topic}, batch_size: 50 }\n`;

async function plc() {
  const p = await startSimulatedPlc({ port: await freePort() });
  cleanups.push(() => p.close());
  p.setHolding(2, [1]);
  return p;
}

async function gateway(extraYaml: string) {
  const g = await GatewayProcess.create({ extraYaml });
  cleanups.push(() => g.kill());
  return g;
}

/** What the journal file says once the process is gone: the last edge.seq given out, and the records it still holds. */
function journalAfterStop(g: GatewayProcess): { lastSeq: number; kept: number[] } {
  const db = new Database(join(g.dir, 'data', 'journal.db'), { readonly: true });
  try {
    const next = (db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: number }).value;
    const kept = (db.prepare('SELECT seq FROM records ORDER BY seq').all() as Array<{ seq: number }>).map((r) => r.seq);
    return { lastSeq: next - 1, kept };
  } finally {
    db.close();
  }
}

const seqOf = (r: ConsumedRecord) => Number(r.headers['edge.seq']);
const valueOf = (r: ConsumedRecord) => JSON.parse(r.value);
const countsIn = (r: ConsumedRecord): number[] => (valueOf(r).metrics ?? []).filter((m: { name: string }) => m.name === 'count').map((m: { value: number }) => m.value);

describe('uplink lifecycle', () => {
  it('an orderly stop (SIGTERM) delivers its NDEATH, with the last edge.seq, before any next start', async () => {
    const topic = `stop-ndeath-${Date.now()}`;
    const p = await plc();
    const g = await gateway(`${device(p.port)}${uplink(topic)}`);
    await g.start();
    for (let i = 0; i < 3; i++) {
      p.setHolding(2, [100 + i]);
      await g.waitForTag('plc-1', 'count', 100 + i);
    }
    await waitFor('the journal to drain', async () => {
      const s = await g.status();
      return s.uplink.state === 'up' && s.journal.records === 0;
    }, 60_000, 100);
    const stopAt = Date.now();
    expect(await g.stop()).toBe(0);
    const stopMs = Date.now() - stopAt;

    const { lastSeq, kept } = journalAfterStop(g);
    expect(kept).toEqual([]); // nothing left for the next start to send
    const records = await consumeAll(kafka().bootstrap, topic, { expected: lastSeq, timeoutMs: 30_000 });
    const last = records.find((r) => seqOf(r) === lastSeq);
    expect(last, `edge.seq ${lastSeq} in ${topic}`).toBeDefined();
    expect(last!.key).toBe('test-plant/gw-test');
    expect(last!.headers['edge.historical']).toBe('false');
    expect(valueOf(last!)).toMatchObject({ type: 'death', group: 'test-plant', node: 'gw-test', device: null, historical: false });
    expect(valueOf(last!).metrics.map((m: { name: string }) => m.name)).toEqual(['bdSeq']);
    expect(new Set(records.map(seqOf))).toEqual(new Set(Array.from({ length: lastSeq }, (_, i) => i + 1)));
    // Bounded well inside the unit's TimeoutStopSec (15 s).
    expect(stopMs).toBeLessThan(10_000);
    console.log(`orderly stop: NDEATH edge.seq ${lastSeq} in Kafka; SIGTERM to exit ${stopMs} ms`);
  });

  it('records captured before a reload added the uplink go out as historical, the live ones after as not', async () => {
    const topic = `late-uplink-${Date.now()}`;
    const p = await plc();
    const g = await gateway(device(p.port));
    await g.start();
    expect((await g.status()).uplink.state).toBe('disabled');
    for (let i = 0; i < 5; i++) {
      p.setHolding(2, [200 + i]);
      await g.waitForTag('plc-1', 'count', 200 + i);
    }
    await sleep(300); // the last value's DDATA is committed
    const waiting = (await g.status()).journal;
    expect(waiting.records).toBeGreaterThanOrEqual(7); // NBIRTH, DBIRTH, five changes

    writeFileSync(g.configFile, `${readFileSync(g.configFile, 'utf8')}\n${uplink(topic)}`);
    g.child!.kill('SIGHUP');
    await waitFor('the added uplink to drain the journal', async () => {
      const s = await g.status();
      return s.uplink.state === 'up' && s.journal.records === 0;
    }, 60_000, 100);
    const heldUpTo = waiting.nextSeq - 1;
    for (let i = 0; i < 3; i++) {
      const next = (await g.status()).journal.nextSeq;
      p.setHolding(2, [300 + i]);
      await g.waitForTag('plc-1', 'count', 300 + i);
      // Polled is not yet journaled: wait for the record of this change to be committed.
      await waitFor(`the record of ${300 + i} to be journaled`, async () => (await g.status()).journal.nextSeq > next, 10_000, 50);
    }
    await waitFor('the live records to be forwarded', async () => (await g.status()).journal.records === 0, 30_000, 100);
    expect(await g.stop()).toBe(0);

    // The whole topic: the stop forwarded its NDEATH (and whatever was still waiting) after the status was read.
    const records = await consumeAll(kafka().bootstrap, topic, { expected: await topicSize(kafka().bootstrap, topic), timeoutMs: 30_000 });
    const held = records.filter((r) => seqOf(r) <= heldUpTo);
    expect(held.map(seqOf).sort((a, b) => a - b)).toEqual(Array.from({ length: heldUpTo }, (_, i) => i + 1));
    for (const r of held) {
      expect(r.headers['edge.historical'], `edge.seq ${seqOf(r)}`).toBe('true');
      expect(valueOf(r).historical, `edge.seq ${seqOf(r)}`).toBe(true);
    }
    expect(held.flatMap(countsIn)).toEqual(expect.arrayContaining([200, 201, 202, 203, 204]));
    const live = records.filter((r) => countsIn(r).some((v) => v >= 300));
    expect(live.flatMap(countsIn)).toEqual(expect.arrayContaining([300, 301, 302]));
    for (const r of live) {
      expect(r.headers['edge.historical'], `edge.seq ${seqOf(r)}`).toBe('false');
      expect(valueOf(r).historical).toBe(false);
    }
  });
});
