// Reload on SIGHUP, as `systemctl reload` does it: a good config is applied with the least disruption, a bad one is
// refused with FILE:LINE:COL and the running config stays; under load, the journal loses nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { parseConfig } from '../src/edge/config/load.js';
import { planReload } from '../src/edge/gateway/reload.js';
import { GatewayProcess, withTestCommitInterval } from './helpers/gateway.js';
import { consumeAll, topicSize } from './helpers/kafka.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll, kafkaForFile } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const kafka = kafkaForFile();

const device = (name: string, port: number, poll = '100ms', extraTag = '') => `
  - name: ${name}
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: ${poll}
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }${extraTag}`;

describe('reload rules', () => {
  const base = (extra: string) => parseConfig(`site: { group: g, node: n }\ndevices:${device('a', 502)}${device('b', 503)}\n${extra}`);
  it('restarts only changed devices, reconnects only a changed uplink, and names what needs a restart', () => {
    const from = base('uplink: { kafka: { brokers: [k:9092] } }');
    const to = parseConfig(`site: { group: g, node: n }\ndevices:${device('a', 502)}${device('b', 503, '2s')}${device('c', 504)}\nuplink: { kafka: { brokers: [k:9092], batch_size: 10 } }\nbroker: { listen: 127.0.0.1:1999 }\nbuffer: { max_bytes: 10MiB }`);
    expect(planReload(from, to)).toEqual({
      added: ['c'], removed: [], changed: ['b'], uplink: true, broker: false, housekeeping: false, journalBound: true, logLevel: false, restartNeeded: ['broker.listen'],
    });
    expect(planReload(from, from)).toMatchObject({ added: [], removed: [], changed: [], uplink: false, journalBound: false, restartNeeded: [] });
    // The journal's bound applies live, also as a share of the disk; the journal's durability and drop policy do not.
    const buffer = (b: string) => parseConfig(`site: { group: g, node: n }\nbuffer: { ${b} }`);
    expect(planReload(buffer('max_bytes: 80%'), buffer('max_bytes: 60%'))).toMatchObject({ journalBound: true, restartNeeded: [] });
    expect(planReload(buffer('max_bytes: 80%'), buffer('max_bytes: 80%'))).toMatchObject({ journalBound: false, restartNeeded: [] });
    expect(planReload(buffer('sync: normal'), buffer('sync: full, when_full: drop_newest'))).toMatchObject({ journalBound: false, restartNeeded: ['buffer.sync', 'buffer.when_full'] });
    expect(planReload(from, base('')).removed).toEqual([]);
    expect(planReload(from, parseConfig(`site: { group: g, node: n }\ndevices:${device('b', 503)}`))).toMatchObject({ removed: ['a'], uplink: true });
  });

  it('applies the broker\'s users, rights and limits in place; its listeners and, with the broker elsewhere, the node\'s login need a restart', () => {
    const users = (names: string[], extra = '') => parseConfig(`site: { group: g, node: n }\nbroker:\n  users: [${names.map((n) => `{ name: ${n}, password_env: P, publish: ['#'], subscribe: ['#'] }`).join(', ')}]\n${extra}`);
    expect(planReload(users(['a']), users(['a', 'b'], '  max_clients: 10'))).toMatchObject({ broker: true, restartNeeded: [] });
    expect(planReload(users(['a']), users(['a'], '  listen: 127.0.0.1:1884'))).toMatchObject({ broker: false, restartNeeded: ['broker.listen'] });
    const external = (nodeUser: string) => users(['a', 'b'], `  embedded: false\n  node_user: ${nodeUser}`);
    expect(planReload(external('a'), external('b'))).toMatchObject({ broker: true, restartNeeded: ['broker.node_user'] });
  });
});

describe('reload on SIGHUP', () => {
  it('adds a device without restarting the others, refuses a bad file, reconnects the uplink, and loses no record', async () => {
    const topic = `reload-${Date.now()}`;
    const plcA = await startSimulatedPlc({ port: await freePort() });
    const plcB = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plcA.close(), () => plcB.close());
    const uplink = (batch: number) => `uplink:\n  kafka: { brokers: [${kafka().bootstrap}], topic: ${topic}, batch_size: ${batch} }\n`;
    const g = await GatewayProcess.create({ extraYaml: `devices:${device('plc-a', plcA.port)}\n${uplink(50)}` });
    cleanups.push(() => g.kill());
    const header = readFileSync(g.configFile, 'utf8').split('\n').slice(0, 4).join('\n');
    const rewrite = (extra: string) => writeFileSync(g.configFile, [header, ...withTestCommitInterval(extra)].join('\n'));
    const hangup = () => g.child!.kill('SIGHUP');
    await g.start();

    // Load: plc-a's value changes on every poll, so every poll is a record.
    let v = 0;
    const load = setInterval(() => plcA.setHolding(10, [++v % 65536]), 50);
    cleanups.push(() => clearInterval(load));
    const deviceStatus = async (name: string) => ((await g.status()).devices as Array<{ name: string; polls: number; state: string }>).find((d) => d.name === name);
    await waitFor('plc-a to be polled', async () => ((await deviceStatus('plc-a'))?.polls ?? 0) > 10, 20_000);

    // 1. A device is added: plc-b starts; plc-a's poll loop is the same one (its poll count never restarts).
    const pollsBefore = (await deviceStatus('plc-a'))!.polls;
    rewrite(`devices:${device('plc-a', plcA.port)}${device('plc-b', plcB.port)}\n${uplink(50)}`);
    hangup();
    await waitFor('plc-b to be up', async () => (await deviceStatus('plc-b'))?.state === 'up', 20_000);
    expect((await deviceStatus('plc-a'))!.polls).toBeGreaterThan(pollsBefore);
    const reloaded = g.logLines().find((l) => l.msg === 'Reloaded the config.');
    expect(reloaded).toMatchObject({ added: ['plc-b'], removed: [], restarted: [], uplink: false });

    // 2. A bad file (a typo'd key) is refused with FILE:LINE:COL; both devices keep running.
    rewrite(`devices:${device('plc-a', plcA.port)}${device('plc-b', plcB.port)}\n  - name: plc-c\n    driver: modbus-tcp\n    hots: 127.0.0.1\n    tags: [{ name: x, table: holding, address: 0 }]\n${uplink(50)}`);
    hangup();
    await waitFor('the refusal', () => g.logLines().some((l) => /^Reload refused: .*gateway\.yaml:\d+:\d+ /.test(l.msg)), 10_000);
    const refusals = g.logLines().filter((l) => /^Reload refused: .*gateway\.yaml:\d+:\d+ /.test(l.msg)).map((l) => l.msg);
    expect(refusals).toContainEqual(expect.stringMatching(/gateway\.yaml:\d+:5 devices\[2\]\.hots: unknown key "hots"$/));
    const pollsA = (await deviceStatus('plc-a'))!.polls;
    await waitFor('plc-a to poll on after the refusal', async () => ((await deviceStatus('plc-a'))?.polls ?? 0) > pollsA, 10_000);
    expect(g.logLines().filter((l) => l.msg === 'Reloaded the config.')).toHaveLength(1);
    expect((await g.status()).devices.map((d: { name: string }) => d.name)).toEqual(['plc-a', 'plc-b']);

    // 3. The uplink changes: only the uplink reconnects; plc-b's poll is changed: only plc-b restarts.
    rewrite(`devices:${device('plc-a', plcA.port)}${device('plc-b', plcB.port, '200ms')}\n${uplink(20)}`);
    const pollsA2 = (await deviceStatus('plc-a'))!.polls;
    hangup();
    await waitFor('the second reload', () => g.logLines().filter((l) => l.msg === 'Reloaded the config.').length === 2, 20_000);
    expect(g.logLines().filter((l) => l.msg === 'Reloaded the config.')[1]).toMatchObject({ added: [], restarted: ['plc-b'], uplink: true });
    // plc-a's loop is the same one: its poll count did not start again, and goes on.
    expect((await deviceStatus('plc-a'))!.polls).toBeGreaterThanOrEqual(pollsA2);
    await waitFor('plc-a to poll on after the reload', async () => ((await deviceStatus('plc-a'))?.polls ?? 0) > pollsA2, 10_000);
    await waitFor('plc-b to be up again', async () => (await deviceStatus('plc-b'))?.state === 'up', 20_000);

    // Nothing lost: every edge.seq the journal gave out reaches Kafka once the gateway stopped and flushed.
    await waitFor('more than 20 records under load', async () => (await g.status()).journal.nextSeq > 21, 20_000);
    clearInterval(load);
    await sleep(500);
    const given = (await g.status()).journal.nextSeq - 1;
    expect(await g.stop()).toBe(0);
    // The whole topic: the stop flushed its NDEATH, above `given`.
    const records = await consumeAll(kafka().bootstrap, topic, { expected: await topicSize(kafka().bootstrap, topic), timeoutMs: 30_000 });
    const seqs = new Set(records.map((r) => Number(r.headers['edge.seq'])));
    expect(given).toBeGreaterThan(20);
    const missing = Array.from({ length: given }, (_, i) => i + 1).filter((s) => !seqs.has(s));
    expect(missing).toEqual([]);
  });
});
