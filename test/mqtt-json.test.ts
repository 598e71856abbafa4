// A local device that publishes JSON on the gateway's own broker becomes a Sparkplug device. The gateway runs as
// a process with its embedded broker; the device is an mqtt.js client in this test (and mosquitto_pub for one
// retained message); mosquitto_sub is the HMI that checks what the gateway made of it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createDriver } from '../src/drivers/registry.js';
import { startBroker } from '../src/edge/broker/server.js';
import { deviceSchema } from '../src/edge/config/schema.js';
import type { SeenMessage } from './helpers/mosquitto-sub.js';
import { GatewayProcess } from './helpers/gateway.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { MosquittoSub, mosquittoPub, mosquittoPubText } from './helpers/mosquitto-sub.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const STALE_AFTER_MS = 2000;
const devicesYaml = `devices:
  - name: boiler
    driver: mqtt-json
    topic: plant/boiler/state
    poll: 200ms
    stale_after: 2s
    timestamp_path: ts
    tags:
      - { name: temp, path: temp }
      - { name: pressure, path: sensors.0.value, type: int, scale: 0.001 }
      - { name: running, path: running, type: bool }
      - { name: mode, path: $.mode, type: string }
      - { name: starts, path: counters.starts, type: int }
      - { name: setpoint, path: setpoint, topic: plant/boiler/config }
`;

const TOPIC = 'spBv1.0/test-plant/+/gw-test/boiler';
const isVerb = (verb: string) => (m: SeenMessage) => m.topic === `spBv1.0/test-plant/${verb}/gw-test/boiler`;
const metricsOf = (m: SeenMessage) => Object.fromEntries(m.payload.metrics.map((x) => [x.name, x]));

/** A device publishing `payload()` every 250 ms, as a sensor would. */
class Publisher {
  payload: () => string = () => '';
  lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private constructor(private readonly client: MqttClient) {}

  static async connect(port: number): Promise<Publisher> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `test-device-${process.pid}`, reconnectPeriod: 0 });
    return new Publisher(client);
  }

  start(payload: () => string): void {
    this.payload = payload;
    this.stop();
    const send = () => {
      this.client.publish('plant/boiler/state', this.payload(), { qos: 1 });
      this.lastAt = Date.now();
    };
    send();
    this.timer = setInterval(send, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async close(): Promise<void> {
    this.stop();
    await this.client.endAsync(true);
  }
}

const reading = (o: { temp?: number; pressure?: number | null; running?: boolean | number; mode?: unknown; starts?: number } = {}) => {
  const msg: Record<string, unknown> = {
    ts: Date.now() - 50, // the device's own clock, a little behind the gateway's
    temp: o.temp ?? 71.5,
    running: o.running ?? true,
    mode: o.mode ?? 'auto',
    counters: { starts: o.starts ?? 42 },
  };
  if (o.pressure !== null) msg.sensors = [{ value: o.pressure ?? 1234, unit: 'mbar' }];
  return JSON.stringify(msg);
};

describe('mqtt-json devices on the local broker', () => {
  let g: GatewayProcess;
  let sub: MosquittoSub;
  let device: Publisher;
  const status = async () => (await g.status()).devices.find((d: { name: string }) => d.name === 'boiler');
  const tagsOf = async () => Object.fromEntries(((await status()).tags as Array<{ name: string; value: unknown; quality: string }>).map((t) => [t.name, t]));
  const counter = async (event: string) => {
    const text = await (await fetch(g.url('/metrics'))).text();
    const m = new RegExp(`^edge_gateway_driver_events_total\\{device="boiler",event="${event}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const warnings = (text: string) => g.logLines().filter((l) => l.level === 40 && String(l.msg).includes(text));

  it('publishes DBIRTH and DDATA with the values mapped from JSON fields, typed and scaled', async () => {
    g = await GatewayProcess.create({ extraYaml: devicesYaml });
    cleanups.push(() => g.kill());
    await g.start();
    sub = new MosquittoSub(g.ports.mqtt, TOPIC);
    await sub.start();
    cleanups.push(() => sub.stop());
    expect(await mosquittoPubText(g.ports.mqtt, 'plant/boiler/config', JSON.stringify({ setpoint: 80 }), { retain: true })).toBe(0);
    device = await Publisher.connect(g.ports.mqtt);
    cleanups.push(() => device.close());
    device.start(() => reading());

    await waitFor('the values in /api/status', async () => (await tagsOf()).pressure?.quality === 'good' && (await tagsOf()).setpoint?.quality === 'good', 20_000);
    // Births are not retained: ask for one now that the values are there.
    expect(await mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    const birth = await waitFor('a DBIRTH with values', () => sub.messages.find((m) => isVerb('DBIRTH')(m) && metricsOf(m).temp?.value !== null), 20_000);
    const m = metricsOf(birth);
    expect(m.temp).toMatchObject({ datatype: 'Double', value: 71.5 });
    expect(m.pressure).toMatchObject({ datatype: 'Double', value: 1.234 }); // an int scaled is a Double
    expect(m.running).toMatchObject({ datatype: 'Boolean', value: true });
    expect(m.mode).toMatchObject({ datatype: 'String', value: 'auto' });
    expect(m.starts).toMatchObject({ datatype: 'Int64', value: 42 });
    expect(m.setpoint).toMatchObject({ datatype: 'Double', value: 80 }); // its own topic
    // timestamp_path: the device's clock, not the arrival time.
    expect(m.temp!.timestamp).toBeLessThan(birth.at);
    expect(m.setpoint!.timestamp).toBeGreaterThan(0);

    // Report by exception: a changed field is one metric in a DDATA, the rest stay out.
    const from = sub.messages.length;
    device.start(() => reading({ temp: 72.25 }));
    const data = await sub.waitForCount((x) => sub.messages.indexOf(x) >= from && isVerb('DDATA')(x) && metricsOf(x).temp?.value === 72.25, 1);
    expect(Object.keys(metricsOf(data[0]!))).toEqual(['temp']);
  });

  it('turns a malformed message and a missing or mistyped field into bad quality, counted and logged once per tag, and keeps running', async () => {
    const from = sub.messages.length;
    device.start(() => '{"temp": 72.25, "sensors": [');
    const bad = await sub.waitForCount((x) => sub.messages.indexOf(x) >= from && isVerb('DDATA')(x) && metricsOf(x).temp?.value === null, 1);
    expect(Object.values(metricsOf(bad[0]!)).filter((x) => x.value === null).map((x) => x.name).sort()).toEqual(['mode', 'pressure', 'running', 'starts', 'temp']);
    await waitFor('several malformed messages counted', async () => ((await counter('invalid_json')) ?? 0) >= 4, 20_000);
    expect(warnings('is not JSON')).toHaveLength(1); // one line for the five tags, not one per message
    expect(warnings('is not JSON')[0]!.msg).toMatch(/^boiler: tags "temp", "pressure", "running", "mode", "starts": the message on "plant\/boiler\/state" is not JSON/);
    expect((await tagsOf()).setpoint).toMatchObject({ value: 80, quality: 'good' }); // another topic, untouched

    // A message without the pressure field, and with a number where the mode's text should be.
    device.start(() => reading({ pressure: null, mode: 3 }));
    await waitFor('temp good again, pressure and mode bad', async () => {
      const t = await tagsOf();
      return t.temp.quality === 'good' && t.pressure.quality === 'bad' && t.mode.quality === 'bad' ? t : undefined;
    }, 20_000);
    await waitFor('several missing fields counted', async () => ((await counter('missing_field')) ?? 0) >= 4, 20_000);
    expect(await counter('wrong_type')).toBeGreaterThanOrEqual(4);
    // Still bad from the malformed spell: not logged again for the new reasons, only once per spell.
    expect(warnings('"sensors.0.value" is not in the message')).toHaveLength(0);
    expect((await status()).state).toBe('up');

    device.start(() => reading());
    await waitFor('every tag good again', async () => Object.values(await tagsOf()).every((t) => t.quality === 'good'), 20_000);
    device.start(() => reading({ pressure: null }));
    await waitFor('pressure bad', async () => (await tagsOf()).pressure.quality === 'bad', 20_000);
    await sleep(1000);
    const missing = warnings('tag "pressure": "sensors.0.value" is not in the message on "plant/boiler/state": the message has no key "sensors"');
    expect(missing).toHaveLength(1);
    expect(g.logLines().filter((l) => String(l.msg).includes('read again') || String(l.msg).includes('reads again')).length).toBeGreaterThanOrEqual(1);
    expect(g.child!.exitCode).toBeNull();
    device.start(() => reading());
    await waitFor('every tag good again', async () => Object.values(await tagsOf()).every((t) => t.quality === 'good'), 20_000);
  });

  it('shows one device through `once`: the JSON value at each path, the decoded value and the quality', async () => {
    const r = await runCliAsync(['once', '--config', g.configFile, '--device', 'boiler', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    const tags = Object.fromEntries(report.devices[0].tags.map((t: { name: string }) => [t.name, t]));
    expect(tags.pressure).toEqual({ name: 'pressure', topic: 'plant/boiler/state', path: 'sensors.0.value', raw: 1234, value: 1.234, quality: 'good' });
    expect(tags.mode).toEqual({ name: 'mode', topic: 'plant/boiler/state', path: '$.mode', raw: 'auto', value: 'auto', quality: 'good' });
    // A retained message answers a new subscription at once.
    expect(tags.setpoint).toEqual({ name: 'setpoint', topic: 'plant/boiler/config', path: 'setpoint', raw: 80, value: 80, quality: 'good' });

    const table = await runCliAsync(['once', '--config', g.configFile]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^DEVICE\s+TAG\s+ADDRESS\s+RAW\s+VALUE\s+QUALITY$/m);
    expect(table.stdout).toMatch(/^boiler\s+pressure\s+plant\/boiler\/state sensors\.0\.value\s+1234\s+1\.234\s+good$/m);
  });

  it('publishes DDEATH once nothing came for stale_after, and DBIRTH when the device publishes again', async () => {
    const from = sub.messages.length;
    device.stop();
    const stoppedAt = device.lastAt;
    const [death] = await sub.waitForCount((x) => sub.messages.indexOf(x) >= from && isVerb('DDEATH')(x), 1, 20_000);
    const silence = death!.at - stoppedAt;
    expect(silence).toBeGreaterThanOrEqual(STALE_AFTER_MS);
    expect(silence).toBeLessThan(STALE_AFTER_MS + 8000);
    const s = await status();
    expect(s.state).toBe('down');
    expect(s.lastError).toMatch(/^device "boiler" \(plant\/boiler\/state on mqtt:\/\/127\.0\.0\.1:\d+\): no message for [\d.]+ s \(stale_after 2 s\); the last came at /);

    const back = sub.messages.length;
    device.start(() => reading({ temp: 65 }));
    const resumedAt = Date.now();
    const [birth] = await sub.waitForCount((x) => sub.messages.indexOf(x) >= back && isVerb('DBIRTH')(x), 1, 20_000);
    expect(birth!.at - resumedAt).toBeLessThan(5000); // retried at the poll interval, not with backoff
    expect(metricsOf(birth!).temp).toMatchObject({ value: 65 });
    expect(metricsOf(birth!).setpoint).toMatchObject({ value: 80 }); // last known value from its own topic
    expect((await status()).state).toBe('up');
    expect(await counter('messages')).toBeGreaterThan(20);
  });
});

describe('mqtt-json devices on a broker with users', () => {
  it('must name a user that may subscribe to its topics, and then logs in with its password file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-mqtt-json-login-'));
    for (const [user, password] of [['sensor', 'sensor-secret'], ['listener', 'listener-secret']]) writeFileSync(join(dir, `${user}.pass`), `${password}\n`);
    const mqttPort = await freePort();
    const brokerYaml = [
      'broker:',
      `  listen: 127.0.0.1:${mqttPort}`,
      '  users:',
      `    - { name: sensor, password_file: ${join(dir, 'sensor.pass')}, publish: ['plant/#'] }`,
      `    - { name: listener, password_file: ${join(dir, 'listener.pass')}, subscribe: ['plant/boiler/#'] }`,
      `    - { name: viewer, password_file: ${join(dir, 'listener.pass')}, subscribe: ['spBv1.0/#'] }`,
    ].join('\n');
    const boiler = (login: string) => `devices:
  - name: boiler
    driver: mqtt-json
    topic: plant/boiler/state
    poll: 200ms
${login}    tags:
      - { name: temp, path: temp }
      - { name: setpoint, path: setpoint, topic: plant/config/boiler }
`;
    // Refused before anything runs: no login at all, and a user without the right to subscribe.
    const anonymous = await GatewayProcess.create({ brokerYaml, extraYaml: boiler(''), ports: { mqtt: mqttPort, http: await freePort() } });
    const r1 = runCli(['validate', '--config', anonymous.configFile]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/:\d+:\d+ devices\[0\]: the gateway's broker admits only broker\.users \(allow_anonymous is false\): give the device username and password_file/);
    const viewer = await GatewayProcess.create({ brokerYaml, extraYaml: boiler(`    username: viewer\n    password_file: ${join(dir, 'listener.pass')}\n`), ports: { mqtt: mqttPort, http: await freePort() } });
    const r2 = runCli(['validate', '--config', viewer.configFile]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/:\d+:\d+ devices\[0\]\.username: user "viewer" may not subscribe to plant\/boiler\/state, plant\/config\/boiler \(broker\.users\[\]\.subscribe\)/);

    // Logged in as "listener", which may read plant/boiler/#: the setpoint moves under it.
    const g = await GatewayProcess.create({ brokerYaml, extraYaml: boiler(`    username: listener\n    password_file: ${join(dir, 'listener.pass')}\n`).replace('plant/config/boiler', 'plant/boiler/config'), ports: { mqtt: mqttPort, http: await freePort() } });
    cleanups.push(() => g.kill());
    await g.start();
    const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'sensor', password: 'sensor-secret', reconnectPeriod: 0 });
    cleanups.push(() => sensor.endAsync(true));
    await sensor.publishAsync('plant/boiler/config', JSON.stringify({ setpoint: 80 }), { qos: 1, retain: true });
    const tags = async () => ((await g.status()).devices[0].tags as Array<{ name: string; value: unknown; quality: string }>).map((t) => [t.name, t.value, t.quality]);
    await waitFor('the device\'s values through its login', async () => {
      await sensor.publishAsync('plant/boiler/state', JSON.stringify({ temp: 64.5 }), { qos: 1 });
      return JSON.stringify(await tags()) === JSON.stringify([['temp', 64.5, 'good'], ['setpoint', 80, 'good']]);
    }, 20_000, 200);
    expect((await g.status()).devices[0].state).toBe('up');
    expect(g.logs()).not.toContain('listener-secret');
  });
});

describe('the mqtt-json driver on a broker of its own', () => {
  const log = pino({ level: 'silent' });
  const device = (port: number, extra: Record<string, unknown> = {}) =>
    deviceSchema.parse({
      name: 'tank', driver: 'mqtt-json', topic: 'site/tank/#', broker: `127.0.0.1:${port}`, poll: '100ms', stale_after: '600ms',
      tags: [{ name: 'level', path: 'level', timestamp_path: 'at' }, { name: 'alarm', path: 'alarm', type: 'bool' }],
      ...extra,
    });

  it('takes values from a retained message, but only a live message counts as a sign of life', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: await freePort() }, log);
    cleanups.push(() => broker.close());
    const port = Number(new URL(broker.url).port);
    const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => pub.endAsync(true));
    await pub.publishAsync('site/tank/state', JSON.stringify({ level: 3.5, alarm: false, at: 1_700_000_000 }), { qos: 1, retain: true });

    const driver = createDriver(device(port), { log });
    cleanups.push(() => driver.close());
    await driver.connect();
    const first = await waitFor('the retained values', async () => {
      const samples = await driver.poll(AbortSignal.timeout(2000));
      return samples.every((s) => s.quality === 'good') ? samples : undefined;
    }, 5000, 20);
    expect(first.map((s) => [s.tag, s.value, s.quality, s.timestamp])).toEqual([['level', 3.5, 'good', 1_700_000_000_000], ['alarm', false, 'good', expect.any(Number)]]);
    await sleep(800);
    // Nothing live for longer than stale_after: down, though the retained values are there.
    await expect(driver.poll(AbortSignal.timeout(2000))).rejects.toThrow(/^device "tank" \(site\/tank\/# on mqtt:\/\/127\.0\.0\.1:\d+\): no message for [\d.]+ (ms|s) since subscribing \(stale_after 600 ms\)$/);
    await pub.publishAsync('site/tank/state', JSON.stringify({ level: 4, alarm: 1, at: 'soon' }), { qos: 1 });
    await waitFor('a live message', async () => (await driver.poll(AbortSignal.timeout(2000)).catch(() => undefined))?.[0]?.value === 4, 5000, 20);
    const samples = await driver.poll(AbortSignal.timeout(2000));
    expect(samples.map((s) => [s.tag, s.value, s.quality])).toEqual([['level', 4, 'good'], ['alarm', true, 'good']]);
    // A timestamp that cannot be read: the arrival time instead, counted.
    expect(Math.abs(samples[0]!.timestamp - Date.now())).toBeLessThan(5000);
    expect(driver.counters!()).toMatchObject({ messages: 2, bad_timestamp: 1, invalid_json: 0 });
  });

  it('says which broker it cannot reach, and `once` exits 1 with that', async () => {
    const port = await freePort(); // no broker there
    const driver = createDriver(device(port, { timeout: '1s' }), { log });
    await expect(driver.connect()).rejects.toThrow(`device "tank" (site/tank/# on mqtt://127.0.0.1:${port}): cannot subscribe: connection refused (no MQTT broker listens at mqtt://127.0.0.1:${port})`);
    await driver.close();

    const dir = mkdtempSync(join(tmpdir(), 'edge-once-mqtt-'));
    writeFileSync(join(dir, 'g.yaml'), `site: { group: g, node: n }\nbroker: { listen: 127.0.0.1:${port} }\ndevices:\n  - { name: tank, driver: mqtt-json, topic: site/tank/state, timeout: 1s, tags: [{ name: level, path: level }] }\n`);
    const r = await runCliAsync(['once', '--config', join(dir, 'g.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`tank: error: device "tank" (site/tank/state on mqtt://127.0.0.1:${port}): cannot subscribe: connection refused`);
  });
});
