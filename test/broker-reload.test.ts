// The site broker's security applies on reload (SIGHUP, as `systemctl reload` sends it) without dropping the site's
// connections: users added and removed, passwords changed in their files, rights narrowed, a TLS certificate replaced
// on disk; a config whose password file or certificate cannot be read is refused as a whole. With the broker in its
// own process (`edge-gateway broker`) and embedded in the gateway, whose edge node stays online throughout.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/edge/config/passwords.js';
import { makeTestCerts } from './helpers/certs.js';
import { GatewayProcess } from './helpers/gateway.js';
import { MosquittoSub, mosquittoPub, mosquittoSubOnce, requireMosquittoClients } from './helpers/mosquitto-sub.js';
import { connectMqtt } from './helpers/mqtt-client.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const PASSWORDS = {
  gw: 'gw-Secret-1a2b', scada: 'scada-Secret-3c4d', hmi: 'hmi-Secret-5e6f', operator: 'operator-Secret-7a8b',
  operatorNew: 'operator-Secret-NEW-9c0d', viewer: 'viewer-Secret-1e2f', panel: 'panel-Secret-3a4b', temp: 'temp-Secret-5c6d',
  node: 'node-Secret-7e8f', nodeNew: 'node-Secret-NEW-9a0b',
};
const processes: GatewayProcess[] = [];
let dir: string;
let hmiHash: string;
let viewerHash: string;

beforeAll(async () => {
  requireMosquittoClients();
  dir = mkdtempSync(join(tmpdir(), 'broker-reload-'));
  for (const name of ['gw', 'scada', 'operator', 'panel', 'temp', 'node'] as const) writeFileSync(join(dir, `${name}.pass`), `${PASSWORDS[name]}\n`);
  hmiHash = await hashPassword(PASSWORDS.hmi);
  viewerHash = await hashPassword(PASSWORDS.viewer);
});

afterAll(async () => {
  for (const p of processes) await p.stop();
  // No secret reaches a log: not the passwords, not the hashes.
  for (const p of processes) {
    const logs = p.logs();
    for (const secret of [...Object.values(PASSWORDS), hmiHash, viewerHash]) expect(logs.includes(secret), `${p.logFile} holds a secret`).toBe(false);
  }
});

async function start(command: 'run' | 'broker', mqttPort: number, brokerYaml: string): Promise<GatewayProcess> {
  const g = await GatewayProcess.create({ extraYaml: '', command, ports: { mqtt: mqttPort, http: await freePort() }, brokerYaml });
  processes.push(g);
  await g.start();
  return g;
}

/** Writes a new `broker:` section into the process's config file and sends SIGHUP; resolves on the log line that answers it. */
async function reloadWith(g: GatewayProcess, brokerYaml: string, answer: (l: Record<string, any>) => boolean): Promise<Record<string, any>> {
  writeFileSync(g.configFile, readFileSync(g.configFile, 'utf8').replace(/^broker:[\s\S]*?(?=^http:)/m, `${brokerYaml}\n`));
  const seen = g.logLines().length;
  g.child!.kill('SIGHUP');
  return waitFor('the reload to be answered', () => g.logLines().slice(seen).find(answer), 15_000);
}
const reloaded = (l: Record<string, any>) => l.msg === 'Reloaded the broker configuration.' || l.msg === 'Reloaded the config.';
const refused = (l: Record<string, any>) => String(l.msg).startsWith('Reload refused: ') && Array.isArray(l.problems);

const user = (name: string, secret: string, rights: string) => `    - { name: ${name}, ${secret}, ${rights} }`;
const file = (name: string) => `password_file: ${join(dir, `${name}.pass`)}`;
const login = (name: keyof typeof PASSWORDS, password = PASSWORDS[name]) => ({ username: name, password });

/** An mqtt.js client that never reconnects by itself, so a lost connection shows; with what it received. */
async function client(port: number, name: keyof typeof PASSWORDS, o: { subscribe?: string; tls?: { ca: Buffer } } = {}) {
  const r = await connectMqtt(port, { ...login(name), ...(o.tls ? { tls: true, ca: o.tls.ca, rejectUnauthorized: true } : {}) }, cleanups);
  if (!r.client) throw new Error(`${name} could not connect: ${r.error}`);
  const c = r.client;
  const state = { client: c as MqttClient, closed: false, topics: [] as string[] };
  c.on('close', () => (state.closed = true));
  c.on('message', (topic) => state.topics.push(topic));
  if (o.subscribe) {
    const granted = await c.subscribeAsync(o.subscribe, { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
  }
  return state;
}

describe('edge-gateway broker (its own process) on SIGHUP', () => {
  it('admits an added user, disconnects a removed one and one whose password file changed, narrows rights; the others keep their connections and messages', async () => {
    const port = await freePort();
    const section = (users: string[]) => ['broker:', `  listen: 127.0.0.1:${port}`, '  embedded: false', '  node_user: gw', '  users:', ...users].join('\n');
    const gw = user('gw', file('gw'), "publish: ['spBv1.0/test-plant/+/gw-test/#'], subscribe: ['spBv1.0/test-plant/+/gw-test/#']");
    const scada = user('scada', file('scada'), "publish: ['spBv1.0/#'], subscribe: ['spBv1.0/#']");
    const operator = user('operator', file('operator'), "subscribe: ['spBv1.0/#']");
    const g = await start('broker', port, section([
      gw, scada, operator,
      user('hmi', `password_hash: '${hmiHash}'`, "subscribe: ['spBv1.0/#']"),
      user('viewer', `password_hash: '${viewerHash}'`, "subscribe: ['spBv1.0/#']"),
    ]));
    const scadaC = await client(port, 'scada', { subscribe: 'spBv1.0/#' });
    const viewerC = await client(port, 'viewer', { subscribe: 'spBv1.0/#' });
    const hmiC = await client(port, 'hmi');
    const operatorC = await client(port, 'operator');
    const asScada = ['-u', 'scada', '-P', PASSWORDS.scada];
    const metric = [{ name: 'level', datatype: 'Float' as const, value: 1 }];
    expect(await mosquittoPub(port, 'spBv1.0/test-plant/DDATA/gw-test/one', metric, undefined, asScada)).toBe(0);
    await waitFor('the first message', () => viewerC.topics.length === 1 && scadaC.topics.length === 1, 5000);

    // hmi removed, panel added, viewer narrowed to another group, operator's password changed in its file.
    writeFileSync(join(dir, 'operator.pass'), `${PASSWORDS.operatorNew}\n`);
    const done = await reloadWith(g, section([
      gw, scada, operator,
      user('viewer', `password_hash: '${viewerHash}'`, "subscribe: ['spBv1.0/other/#']"),
      user('panel', file('panel'), "subscribe: ['spBv1.0/#']"),
    ]), (l) => reloaded(l) || refused(l));
    expect(done).toMatchObject({ msg: 'Reloaded the broker configuration.', users: 5, disconnected: 2, restartNeeded: [] });
    await waitFor('hmi and operator to be disconnected', () => hmiC.closed && operatorC.closed, 5000);
    const gone = g.logLines().filter((l) => String(l.msg).includes('disconnected by the reload'));
    expect(gone.map((l) => [l.user, l.reason])).toEqual([['hmi', 'user_removed'], ['operator', 'password_changed']]);
    expect(g.logLines().some((l) => l.user === 'viewer' && String(l.msg).includes('spBv1.0/# is beyond its new rights'))).toBe(true);

    // The added user connects (Debian's mosquitto_sub); the removed one and the old password are refused.
    const panel = new MosquittoSub(port, 'spBv1.0/#', ['-u', 'panel', '-P', PASSWORDS.panel]);
    await panel.start();
    cleanups.push(() => panel.stop());
    expect(await connectMqtt(port, login('hmi'), cleanups)).toMatchObject({ code: 4 });
    expect(await connectMqtt(port, login('operator'), cleanups)).toMatchObject({ code: 4 });
    expect((await connectMqtt(port, login('operator', PASSWORDS.operatorNew), cleanups)).client).toBeDefined();

    // scada and viewer kept their connections; scada keeps receiving everything, viewer only its new rights.
    expect(await mosquittoPub(port, 'spBv1.0/test-plant/DDATA/gw-test/two', metric, undefined, asScada)).toBe(0);
    expect(await mosquittoPub(port, 'spBv1.0/other/DDATA/node/three', metric, undefined, asScada)).toBe(0);
    await waitFor('the messages after the reload', () => scadaC.topics.length === 3 && viewerC.topics.length === 2, 5000);
    await panel.waitForCount((m) => m.topic.endsWith('/three'), 1, 5000);
    await sleep(300);
    expect(viewerC.topics).toEqual(['spBv1.0/test-plant/DDATA/gw-test/one', 'spBv1.0/other/DDATA/node/three']);
    expect(scadaC.topics.map((t) => t.split('/').pop())).toEqual(['one', 'two', 'three']);
    expect([scadaC.closed, viewerC.closed]).toEqual([false, false]);
    expect(g.child!.exitCode).toBeNull();
  });

  it('the gateway\'s edge node, logged in as node_user, comes back with the new password once its file changed', async () => {
    const port = await freePort();
    const section = ['broker:', `  listen: 127.0.0.1:${port}`, '  embedded: false', '  node_user: node', '  users:',
      user('node', file('node'), "publish: ['spBv1.0/test-plant/+/gw-test/#'], subscribe: ['spBv1.0/test-plant/+/gw-test/#']"),
      user('scada', file('scada'), "publish: ['spBv1.0/#'], subscribe: ['spBv1.0/#']")].join('\n');
    const broker = await start('broker', port, section);
    const g = await start('run', port, section);
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 15_000);
    const scada = await client(port, 'scada', { subscribe: 'spBv1.0/test-plant/#' });
    const bdSeq = (await g.status()).sparkplug.bdSeq;

    // The node's password changes in its file; the broker's reload disconnects the session of the old password.
    writeFileSync(join(dir, 'node.pass'), `${PASSWORDS.nodeNew}\n`);
    const done = await reloadWith(broker, section, (l) => reloaded(l) || refused(l));
    expect(done).toMatchObject({ msg: 'Reloaded the broker configuration.', disconnected: 1 });
    await waitFor('the will, then a new birth with the new password', () => scada.topics.includes('spBv1.0/test-plant/NDEATH/gw-test') && scada.topics.lastIndexOf('spBv1.0/test-plant/NBIRTH/gw-test') > scada.topics.indexOf('spBv1.0/test-plant/NDEATH/gw-test'), 20_000);
    const s = (await g.status()).sparkplug;
    expect(s.state).toBe('online');
    expect(s.bdSeq).not.toBe(bdSeq);
    expect(broker.logLines().some((l) => l.user === 'node' && l.reason === 'password_changed')).toBe(true);
  });

  it('serves a certificate replaced on disk to new TLS clients; an open TLS connection stays; a key that does not fit is refused', async () => {
    const [oldCerts, newCerts] = [makeTestCerts(), makeTestCerts()];
    const [certFile, keyFile] = [join(dir, 'broker.crt'), join(dir, 'broker.key')];
    copyFileSync(oldCerts.serverCert, certFile);
    copyFileSync(oldCerts.serverKey, keyFile);
    const [port, tlsPort] = [await freePort(), await freePort()];
    const section = ['broker:', `  listen: 127.0.0.1:${port}`, '  users:', user('hmi', `password_hash: '${hmiHash}'`, "publish: ['spBv1.0/#'], subscribe: ['spBv1.0/#']"),
      `  tls: { listen: 127.0.0.1:${tlsPort}, cert_file: ${certFile}, key_file: ${keyFile} }`].join('\n');
    const g = await start('broker', port, section);
    const asHmi = ['-u', 'hmi', '-P', PASSWORDS.hmi];
    const before = await client(tlsPort, 'hmi', { subscribe: 'spBv1.0/#', tls: { ca: readFileSync(oldCerts.caFile) } });

    // The renewed certificate and key are copied over the old files; the config file is the same.
    copyFileSync(newCerts.serverCert, certFile);
    copyFileSync(newCerts.serverKey, keyFile);
    const done = await reloadWith(g, section, (l) => reloaded(l) || refused(l));
    expect(done).toMatchObject({ msg: 'Reloaded the broker configuration.', disconnected: 0, certificate: { changed: true, subject: 'CN=localhost' } });

    const renewed = new MosquittoSub(tlsPort, 'spBv1.0/#', ['--cafile', newCerts.caFile, ...asHmi]);
    await renewed.start();
    cleanups.push(() => renewed.stop());
    const untrusted = mosquittoSubOnce(tlsPort, ['--cafile', oldCerts.caFile, ...asHmi]);
    expect(untrusted.status).not.toBe(0); // the new certificate is not signed by the old CA
    expect(await mosquittoPub(port, 'spBv1.0/test-plant/DDATA/gw-test/after', [{ name: 'x', datatype: 'Int32', value: 1 }], undefined, asHmi)).toBe(0);
    await renewed.waitForCount((m) => m.topic.endsWith('/after'), 1, 5000);
    await waitFor('the open TLS connection to receive it', () => before.topics.includes('spBv1.0/test-plant/DDATA/gw-test/after'), 5000);
    expect(before.closed).toBe(false);

    // A key that is not the certificate's refuses the reload, naming the key's line; the renewed certificate stays.
    copyFileSync(oldCerts.serverKey, keyFile);
    const refusal = await reloadWith(g, section, (l) => reloaded(l) || refused(l));
    expect(refusal.msg).toMatch(/runs on with the configuration it has/);
    expect(refusal.problems).toEqual([expect.stringMatching(new RegExp(`^${g.configFile}:\\d+:\\d+ broker\\.tls\\.key_file: ${keyFile} is not the key of the certificate in ${certFile}$`))]);
    const again = new MosquittoSub(tlsPort, 'spBv1.0/#', ['--cafile', newCerts.caFile, ...asHmi]);
    await again.start();
    cleanups.push(() => again.stop());
    expect(before.closed).toBe(false);
  });
});

describe('the gateway\'s embedded broker on SIGHUP', () => {
  it('applies users in place with the edge node online throughout, counts disconnections, refuses a missing password file, and keeps its listener', async () => {
    const port = await freePort();
    const section = (users: string[], listen = port) => ['broker:', `  listen: 127.0.0.1:${listen}`, '  users:', ...users].join('\n');
    const scada = user('scada', file('scada'), "subscribe: ['spBv1.0/#'], command: true");
    const hmi = user('hmi', `password_hash: '${hmiHash}'`, "subscribe: ['spBv1.0/#']");
    const g = await start('run', port, section([scada, hmi, user('temp', file('temp'), "subscribe: ['spBv1.0/#']")]));
    await waitFor('the edge node online', async () => (await g.status()).sparkplug.state === 'online', 20_000);
    const bdSeq = (await g.status()).sparkplug.bdSeq;
    const hmiC = await client(port, 'hmi', { subscribe: 'spBv1.0/#' });
    const tempC = await client(port, 'temp');

    // temp removed, panel added.
    const withPanel = section([scada, hmi, user('panel', file('panel'), "subscribe: ['spBv1.0/#']")]);
    const done = await reloadWith(g, withPanel, (l) => reloaded(l) || refused(l));
    expect(done).toMatchObject({ msg: 'Reloaded the config.', broker: true, brokerReload: { disconnected: 1 }, restartNeeded: [] });
    await waitFor('temp to be disconnected', () => tempC.closed, 5000);
    expect((await connectMqtt(port, login('panel'), cleanups)).client).toBeDefined();
    const status = await g.status();
    expect(status.broker.disconnected).toEqual({ user_removed: 1, password_changed: 0, anonymous_refused: 0 });
    const metrics = await (await fetch(g.url('/metrics'))).text();
    expect(metrics).toContain('edge_gateway_broker_reload_disconnects_total{reason="user_removed"} 1');

    // A user whose password file is missing refuses the whole reload (hmi's removal too), naming the file's line.
    const missing = join(dir, 'nobody.pass');
    const refusal = await reloadWith(g, section([scada, user('panel', file('panel'), "subscribe: ['spBv1.0/#']"), user('ghost', `password_file: ${missing}`, "subscribe: ['#']")]), (l) => reloaded(l) || refused(l));
    expect(refusal.problems).toEqual([expect.stringMatching(new RegExp(`^${g.configFile}:\\d+:\\d+ broker\\.users\\[2\\]\\.password_file: cannot read ${missing}: no such file$`))]);
    expect((await connectMqtt(port, login('hmi'), cleanups)).client).toBeDefined();
    expect((await connectMqtt(port, login('panel'), cleanups)).client).toBeDefined();

    // A moved listener waits for the restart, and says so; the broker goes on where it is.
    const moved = await reloadWith(g, section([scada, hmi, user('panel', file('panel'), "subscribe: ['spBv1.0/#']")], await freePort()), (l) => reloaded(l) || refused(l));
    expect(moved.restartNeeded).toEqual(['broker.listen']);
    expect(g.logLines().some((l) => l.key === 'broker.listen' && String(l.msg).includes('moving it would drop every MQTT client'))).toBe(true);
    expect((await connectMqtt(port, login('hmi'), cleanups)).client).toBeDefined();

    // The edge node never left: same session (bdSeq), no NDEATH seen by hmi, which kept its own connection.
    expect((await g.status()).sparkplug).toMatchObject({ state: 'online', bdSeq });
    expect(hmiC.topics.filter((t) => t.includes('/NDEATH/'))).toEqual([]);
    expect(hmiC.closed).toBe(false);
  });
});
