// The site broker on a network address: anonymous clients refused, passwords checked, Sparkplug commands only from
// users allowed to command, topic rights, a TLS listener that Debian's mosquitto clients reach with --cafile,
// client limits, and no secret in any log line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePayload } from '../src/edge/sparkplug/codec.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { CLI, runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub, mosquittoSubOnce, requireMosquittoClients } from './helpers/mosquitto-sub.js';
import { connectMqtt } from './helpers/mqtt-client.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const SCADA_PASSWORD = 'scada-Secret-7f3a';
const HMI_PASSWORD = 'hmi-Secret-91c2';
const VIEWER_PASSWORD = 'viewer-Secret-5d0e';
const NODE_PASSWORD = 'node-Secret-c4b8';
const SECRETS = [SCADA_PASSWORD, HMI_PASSWORD, VIEWER_PASSWORD, NODE_PASSWORD];
const REBIRTH = [{ name: 'Node Control/Rebirth', datatype: 'Boolean' as const, value: true }];
const NCMD = 'spBv1.0/test-plant/NCMD/gw-test';

let certs: TestCerts;
let dir: string;
let hmiHash: string;
const processes: GatewayProcess[] = [];

beforeAll(() => {
  requireMosquittoClients();
  certs = makeTestCerts();
  dir = mkdtempSync(join(tmpdir(), 'broker-security-'));
  writeFileSync(join(dir, 'scada.pass'), `${SCADA_PASSWORD}\n`);
  writeFileSync(join(dir, 'node.pass'), NODE_PASSWORD);
  // The hash comes from the command a technician uses: the password piped on stdin, the hash on stdout.
  const r = spawnSync(process.execPath, [CLI, 'passwd'], { input: `${HMI_PASSWORD}\n`, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  hmiHash = r.stdout.trim();
  expect(hmiHash).toMatch(/^scrypt\$14\$8\$1\$/);
  process.env.TEST_VIEWER_PASSWORD = VIEWER_PASSWORD;
});

afterAll(async () => {
  for (const p of processes) await p.stop();
  // No secret reaches a log: not the passwords, not the hash.
  for (const p of processes) {
    const logs = p.logs();
    for (const secret of [...SECRETS, hmiHash]) expect(logs.includes(secret), `${p.logFile} holds a secret`).toBe(false);
  }
});

/** A gateway (or `edge-gateway broker`) whose `broker:` section is `brokerYaml`. */
async function start(brokerYaml: string, o: { command?: 'run' | 'broker'; extraYaml?: string; ports?: { mqtt: number; http: number } } = {}) {
  const g = await GatewayProcess.create({ extraYaml: o.extraYaml ?? '', command: o.command, ports: o.ports, brokerYaml });
  processes.push(g);
  await g.start();
  return g;
}

const connect = (port: number, options: IClientOptions = {}) => connectMqtt(port, options, cleanups);

describe('validate', () => {
  it('refuses a broker on a network address without users, pointing at broker.listen, unless allow_anonymous is written out', () => {
    const file = join(dir, 'open.yaml');
    writeFileSync(file, 'site: { group: g, node: n }\nbroker:\n  listen: 0.0.0.0:1883\n');
    const r = runCli(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3:11 broker.listen: 0.0.0.0 is reachable from the network: set broker.users`);
    expect(r.stderr).toContain('allow_anonymous: true');

    writeFileSync(file, 'site: { group: g, node: n }\nbroker:\n  listen: 0.0.0.0:1883\n  allow_anonymous: true\n');
    expect(runCli(['validate', '--config', file]).code).toBe(0);

    writeFileSync(file, `site: { group: g, node: n }\nbroker:\n  listen: 127.0.0.1:1883\n  tls: { cert_file: c.pem, key_file: k.pem }\n`);
    const tls = runCli(['validate', '--config', file]);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain(`${file}:4:8 broker.tls.listen: 0.0.0.0 is reachable from the network`);
  });

  it('names the user whose password source is missing or doubled, and a node_user that only has a hash', () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(file, [
      'site: { group: g, node: n }',
      'broker:',
      '  listen: 0.0.0.0:1883',
      '  node_user: hmi',
      '  users:',
      '    - { name: hmi, password_hash: "' + hmiHash + '", publish: ["spBv1.0/#"], subscribe: ["spBv1.0/#"] }',
      '    - { name: nopass }',
      '    - { name: both, password_file: a, password_env: B, subscribe: ["a/#/b"] }',
      '',
    ].join('\n'));
    const r = runCli(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:4:14 broker.node_user: the edge node logs in as "hmi" and must know its password`);
    expect(r.stderr).toContain(`${file}:7:7 broker.users[1]: user "nopass": give exactly one of password_hash, password_file, password_env (0 given)`);
    expect(r.stderr).toContain(`${file}:8:7 broker.users[2]: user "both": give exactly one of password_hash, password_file, password_env (2 given)`);
    expect(r.stderr).toContain('broker.users[2].subscribe[0]: not an MQTT topic filter');
    expect(r.stderr).not.toContain(hmiHash);
  });
});

describe('the gateway\'s broker on 0.0.0.0 with users and a TLS listener', () => {
  let g: GatewayProcess;
  let tlsPort: number;
  const scada = ['-u', 'scada', '-P', SCADA_PASSWORD];
  const hmi = ['-u', 'hmi', '-P', HMI_PASSWORD];

  beforeAll(async () => {
    tlsPort = await freePort();
    const mqttPort = await freePort();
    g = await start([
      'broker:',
      `  listen: 0.0.0.0:${mqttPort}`,
      '  users:',
      `    - { name: scada, password_file: ${join(dir, 'scada.pass')}, subscribe: ['spBv1.0/#'], publish: ['spBv1.0/STATE/+'], command: true }`,
      `    - { name: hmi, password_hash: '${hmiHash}', subscribe: ['spBv1.0/#'], publish: ['spBv1.0/#'] }`,
      `    - { name: viewer, password_env: TEST_VIEWER_PASSWORD, subscribe: ['spBv1.0/+/NBIRTH/#'] }`,
      `  tls: { listen: 0.0.0.0:${tlsPort}, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey} }`,
    ].join('\n'), { ports: { mqtt: mqttPort, http: await freePort() } });
    // The edge node itself logged in (by the credential the gateway made for its own broker) and is born.
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 20_000);
  });

  it('refuses anonymous clients: mosquitto_sub and mqtt.js are told "not authorized"', async () => {
    const sub = mosquittoSubOnce(g.ports.mqtt, []);
    expect(sub.status).not.toBe(0);
    expect(sub.output).toMatch(/not authori[sz]ed/i);
    expect(await connect(g.ports.mqtt)).toMatchObject({ code: 5 });
    await waitFor('the refusal logged', () => g.logs().includes('anonymous clients are not allowed'), 5000);
  });

  it('refuses a wrong password with "bad user name or password", and logs the user, not the password', async () => {
    expect(await connect(g.ports.mqtt, { username: 'scada', password: 'not-the-password' })).toMatchObject({ code: 4 });
    expect(await connect(g.ports.mqtt, { username: 'nobody', password: SCADA_PASSWORD })).toMatchObject({ code: 4 });
    await waitFor('the refusal logged', () => g.logs().includes('wrong user name or password for \\"scada\\"'), 5000);
    expect(g.logs()).not.toContain('not-the-password');
    const status = await g.status();
    expect(status.broker.refused).toMatchObject({ anonymous: 2, bad_login: 2 });
  });

  it('a user without the command right cannot publish NCMD: no subscriber sees it and the node does not rebirth', async () => {
    const watcher = new MosquittoSub(g.ports.mqtt, 'spBv1.0/#', scada);
    await watcher.start();
    cleanups.push(() => watcher.stop());
    // hmi may publish on spBv1.0/#, but commands need "command: true": acknowledged (exit 0), then dropped.
    expect(await mosquittoPub(g.ports.mqtt, NCMD, REBIRTH, undefined, hmi)).toBe(0);
    const viaMqttJs = await connect(g.ports.mqtt, { username: 'hmi', password: HMI_PASSWORD });
    const write = Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'setpoint', datatype: 'Float', value: 1 }] }));
    await viaMqttJs.client!.publishAsync('spBv1.0/test-plant/DCMD/gw-test/press-01', write, { qos: 1 });
    // Something hmi may publish does get through, after the refused ones: so the refused ones would have arrived by now.
    await viaMqttJs.client!.publishAsync('spBv1.0/test-plant/DDATA/other-node/d', write, { qos: 1 });
    await watcher.waitForCount((m) => m.topic === 'spBv1.0/test-plant/DDATA/other-node/d', 1, 10_000);
    await sleep(500);
    expect(watcher.messages.filter((m) => /\/(NCMD|DCMD)\//.test(m.topic))).toEqual([]);
    const status = await g.status();
    expect(status.sparkplug.rebirths).toBe(0);
    expect(status.broker.denied.publish).toBe(2);
    const metrics = await (await fetch(`http://127.0.0.1:${g.ports.http}/metrics`)).text();
    expect(metrics).toContain('# TYPE edge_gateway_broker_denied_total counter');
    expect(metrics).toContain('edge_gateway_broker_denied_total{action="publish"} 2');
    expect(g.logs()).toContain('may not publish to spBv1.0/test-plant/NCMD/gw-test (Sparkplug commands need \\"command: true\\")');
    // hmi kept its session: a dropped publish does not disconnect (a host application keeps its STATE).
    expect(viaMqttJs.client!.connected).toBe(true);
  });

  it('a user with the command right rebirths the node; a TLS subscriber (mosquitto_sub --cafile) sees the NBIRTH', async () => {
    const overTls = new MosquittoSub(tlsPort, 'spBv1.0/#', ['--cafile', certs.caFile, ...hmi]);
    await overTls.start();
    cleanups.push(() => overTls.stop());
    expect(await mosquittoPub(g.ports.mqtt, NCMD, REBIRTH, undefined, scada)).toBe(0);
    await overTls.waitForCount((m) => m.topic === 'spBv1.0/test-plant/NBIRTH/gw-test', 1, 15_000);
    expect(overTls.messages.some((m) => m.topic === NCMD)).toBe(true);
    expect((await g.status()).sparkplug.rebirths).toBe(1);
  });

  it('the TLS listener refuses a client that does not trust the server, and anonymous clients over TLS', () => {
    const untrusted = mosquittoSubOnce(tlsPort, ['--cafile', certs.serverCert, ...hmi]);
    expect(untrusted.status).not.toBe(0);
    const anonymous = mosquittoSubOnce(tlsPort, ['--cafile', certs.caFile]);
    expect(anonymous.status).not.toBe(0);
    expect(anonymous.output).toMatch(/not authori[sz]ed/i);
  });

  it('subscriptions beyond a user\'s rights are refused (SUBACK 0x80); the allowed ones stand', async () => {
    const { client } = await connect(g.ports.mqtt, { username: 'viewer', password: VIEWER_PASSWORD });
    const granted = await new Promise<number[]>((resolve) =>
      client!.subscribe(['spBv1.0/+/NBIRTH/#', 'spBv1.0/#', '#'], { qos: 1 }, (err, grants) =>
        resolve(((err as { packet?: { granted?: number[] } } | null)?.packet?.granted) ?? (grants ?? []).map((g) => g.qos))));
    expect(granted).toEqual([1, 128, 128]);
    expect((await g.status()).broker.denied.subscribe).toBe(2);
  });
});

describe('limits', () => {
  it('refuses clients beyond broker.max_clients with "server unavailable", a log line and a counter; the edge node is not counted', async () => {
    const mqttPort = await freePort();
    const g = await start(['broker:', `  listen: 0.0.0.0:${mqttPort}`, '  allow_anonymous: true', '  max_clients: 2'].join('\n'), { ports: { mqtt: mqttPort, http: await freePort() } });
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 20_000);
    const first = await connect(g.ports.mqtt);
    const second = await connect(g.ports.mqtt);
    expect([first.error, second.error]).toEqual([undefined, undefined]);
    expect(await connect(g.ports.mqtt)).toMatchObject({ code: 3 });
    await waitFor('the refusal logged', () => g.logs().includes('2 clients are connected (broker.max_clients)'), 5000);
    const metrics = await (await fetch(`http://127.0.0.1:${g.ports.http}/metrics`)).text();
    expect(metrics).toContain('edge_gateway_broker_connections_refused_total{reason="max_clients"} 1');
    // A place freed is a place taken.
    await first.client!.endAsync();
    await waitFor('a client to leave', async () => (await connect(g.ports.mqtt)).client !== undefined, 5000);
    // Anonymous clients here have every right (allow_anonymous written out, no users): commands included.
    await second.client!.publishAsync(NCMD, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: REBIRTH })), { qos: 1 });
    await waitFor('the rebirth', async () => (await g.status()).sparkplug.rebirths === 1, 10_000);
  });
});

describe('the broker in its own process', () => {
  it('admits the gateway\'s edge node as broker.node_user, and with ca_file asks TLS clients for a certificate', async () => {
    const mqttPort = await freePort();
    const tlsPort = await freePort();
    const brokerYaml = [
      'broker:',
      `  listen: 0.0.0.0:${mqttPort}`,
      '  embedded: false',
      '  node_user: gw',
      '  users:',
      `    - { name: gw, password_file: ${join(dir, 'node.pass')}, publish: ['spBv1.0/test-plant/+/gw-test/#'], subscribe: ['spBv1.0/test-plant/+/gw-test/#'] }`,
      `    - { name: hmi, password_hash: '${hmiHash}', subscribe: ['spBv1.0/#'] }`,
      `  tls: { listen: 0.0.0.0:${tlsPort}, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey}, ca_file: ${certs.caFile} }`,
    ].join('\n');
    await start(brokerYaml, { command: 'broker', ports: { mqtt: mqttPort, http: await freePort() } });
    const tlsSub = new MosquittoSub(tlsPort, 'spBv1.0/#', ['--cafile', certs.caFile, '--cert', certs.clientCert, '--key', certs.clientKey, '-u', 'hmi', '-P', HMI_PASSWORD]);
    await tlsSub.start();
    cleanups.push(() => tlsSub.stop());
    const g = await start(brokerYaml, { ports: { mqtt: mqttPort, http: await freePort() } });
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 20_000);
    await tlsSub.waitForCount((m) => m.topic === 'spBv1.0/test-plant/NBIRTH/gw-test', 1, 15_000);
    // Without a client certificate the TLS handshake fails.
    const noCert = mosquittoSubOnce(tlsPort, ['--cafile', certs.caFile, '-u', 'hmi', '-P', HMI_PASSWORD]);
    expect(noCert.status).not.toBe(0);
  });
});
