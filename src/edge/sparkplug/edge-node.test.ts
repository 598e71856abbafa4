// The edge node against a real broker in this process, with the journal's commit under the test's control:
// rebirth requests that arrive while a birth sequence is still going out are duplicates.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../broker/server.js';
import { decodePayload, encodePayload } from './codec.js';
import { EdgeNode, type EdgeMessage } from './edge-node.js';

const log = pino({ level: 'silent' });
const open: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c();
});

async function waitUntil(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('EdgeNode', () => {
  it('answers one rebirth per birth sequence: requests arriving while it is going out are ignored', async () => {
    const broker: LocalBroker = await startBroker({ host: '127.0.0.1', port: 0 }, log);
    open.push(() => broker.close());
    // The journal's commits, released by the test.
    const pending: Array<() => void> = [];
    let hold = false;
    const captured: EdgeMessage[] = [];
    const node = new EdgeNode({
      group: 'g', node: 'n', servers: [broker.url], bdSeqFile: join(mkdtempSync(join(tmpdir(), 'edge-node-')), 'bdseq'),
      devices: new Map([['d', [{ name: 'x', datatype: 'UInt16', writable: false }]]]), log,
      capture: (message, publish) => {
        captured.push(message);
        if (hold) pending.push(publish);
        else setImmediate(publish);
      },
    });
    open.push(() => node.stop());
    const host = await mqtt.connectAsync(broker.url, { clientId: 'host', reconnectPeriod: 0 });
    open.push(() => host.endAsync(true));
    const seen: Array<{ topic: string; seq?: number }> = [];
    host.on('message', (topic, bytes) => {
      if (!topic.includes('/NCMD/')) seen.push({ topic, seq: decodePayload(bytes).seq });
    });
    await host.subscribeAsync('spBv1.0/g/+/n/#', { qos: 0 });
    await host.subscribeAsync('spBv1.0/g/+/n', { qos: 0 });
    node.start();
    expect(await node.waitOnline(5000)).toBe(true);
    node.deviceOnline('d', [{ name: 'x', datatype: 'UInt16', value: 1, timestamp: Date.now() }]);
    await waitUntil('the first births', () => seen.filter((m) => m.topic.includes('DBIRTH')).length === 1);

    // Three requests while the journal holds the births of the first one.
    hold = true;
    const rebirth = Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }] }));
    for (let i = 0; i < 3; i++) await host.publishAsync('spBv1.0/g/NCMD/n', rebirth, { qos: 1 });
    await waitUntil('the three requests', () => node.status().rebirths + node.status().rebirthsIgnored === 3);
    expect(node.status()).toMatchObject({ rebirths: 1, rebirthsIgnored: 2 });
    hold = false;
    for (const p of pending.splice(0)) p();
    await waitUntil('the second births', () => seen.filter((m) => m.topic.includes('DBIRTH')).length === 2);

    // Once that sequence is out, a new request is honoured again.
    await host.publishAsync('spBv1.0/g/NCMD/n', rebirth, { qos: 1 });
    await waitUntil('the third births', () => seen.filter((m) => m.topic.includes('DBIRTH')).length === 3);
    expect(node.status()).toMatchObject({ rebirths: 2, rebirthsIgnored: 2 });
    expect(seen.map((m) => `${m.topic.split('/')[2]}:${m.seq}`)).toEqual(['NBIRTH:0', 'DBIRTH:1', 'NBIRTH:0', 'DBIRTH:1', 'NBIRTH:0', 'DBIRTH:1']);
    expect(captured.filter((m) => m.kind === 'NDEATH')).toEqual([]);
  });
});
