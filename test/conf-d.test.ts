// Drop-in device files in conf.d beside the config, through the built command line: `validate` merges and lists
// them and names each problem at the drop-in it is in; a running gateway picks them up on SIGHUP.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const shipped = readFileSync('config/gateway.yaml', 'utf8');

/** A Modbus TCP device as a list item, over six lines, `extra` appended as the last of its keys. */
const device = (name: string, port = 502, extra = '') => `  - name: ${name}
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: 100ms${extra}
    tags: [{ name: level, table: holding, address: 10, type: uint16 }]
`;

let sites = 0;
/** The shipped config (device press-01) in a scratch folder, with these files in its conf.d. */
function site(dropIns: Record<string, string>): { main: string; dropIn: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), `conf-d-${++sites}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(dir, 'gateway.yaml'), shipped);
  for (const [name, text] of Object.entries(dropIns)) writeFileSync(join(dir, 'conf.d', name), text);
  return { main: join(dir, 'gateway.yaml'), dropIn: (name) => join(dir, 'conf.d', name) };
}
function validate(file: string) {
  const r = runCli(['validate', '--config', file]);
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at /m);
  return { code: r.code, stdout: r.stdout, lines: r.stderr.trimEnd().split('\n') };
}

describe('edge-gateway validate with conf.d drop-ins', () => {
  it('merges the drop-ins\' devices after the main file\'s and says which files it read', () => {
    const { main } = site({ 'line2.yaml': `devices:\n${device('filler-2')}`, 'line1.yml': `# line 1\ndevices:\n${device('filler-1a')}${device('filler-1b')}`, 'README': 'not read', 'old.yaml.disabled': 'uplink: {}\n' });
    const r = validate(main);
    expect(r.lines).toEqual(['']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`${main}: valid (4 devices, 5 tags) with 2 drop-ins: conf.d/line1.yml, conf.d/line2.yaml`);
  });

  it('names a typo\'d key in a drop-in at its line there, numbered as in that file', () => {
    const { main, dropIn } = site({ 'a.yaml': `devices:\n${device('filler-a')}`, 'b.yaml': `devices:\n${device('filler-b')}${device('filler-c', 502, '\n    hots: 10.0.0.1')}` });
    expect(validate(main)).toMatchObject({ code: 2, lines: [`${dropIn('b.yaml')}:13:5 devices[1].hots: unknown key "hots"`] });
  });

  it('names a device name already in the main file at the drop-in, with where the first one is', () => {
    const { main, dropIn } = site({ 'a.yaml': `devices:\n${device('filler-a')}${device('Press-01')}` });
    expect(validate(main)).toMatchObject({ code: 2, lines: [`${dropIn('a.yaml')}:8:11 devices[1].name: duplicate device name (also devices[0] in ${main}:7:5; names must differ in more than upper/lower case)`] });
  });

  it('refuses a key other than devices in a drop-in, at that key', () => {
    const { main, dropIn } = site({ 'a.yaml': `devices:\n${device('filler-a')}uplink:\n  kafka: { brokers: [k:9092] }\n` });
    expect(validate(main)).toMatchObject({ code: 2, lines: [`${dropIn('a.yaml')}:8:1 uplink: a drop-in in conf.d holds "devices" only; this key belongs in ${main}`] });
  });
});

describe('reload with conf.d drop-ins', () => {
  it('adds a drop-in\'s device on SIGHUP, refuses a bad drop-in at its line, and removes the device with the file', async () => {
    const plcA = await startSimulatedPlc({ port: await freePort() });
    const plcB = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plcA.close(), () => plcB.close());
    const g = await GatewayProcess.create({ extraYaml: `devices:\n${device('plc-a', plcA.port)}` });
    cleanups.push(() => g.kill());
    mkdirSync(join(g.dir, 'conf.d'));
    const dropIn = join(g.dir, 'conf.d', 'line2.yaml');
    const names = async () => ((await g.status()).devices as Array<{ name: string }>).map((d) => d.name);
    const reloads = () => g.logLines().filter((l) => l.msg === 'Reloaded the config.');
    await g.start();
    expect(await names()).toEqual(['plc-a']);

    writeFileSync(dropIn, `devices:\n${device('plc-b', plcB.port)}`);
    g.child!.kill('SIGHUP');
    await waitFor('plc-b to be up', async () => ((await g.status()).devices as Array<{ name: string; state: string }>).some((d) => d.name === 'plc-b' && d.state === 'up'), 20_000);
    expect(reloads()[0]).toMatchObject({ added: ['plc-b'], removed: [], restarted: [] });

    writeFileSync(dropIn, `devices:\n${device('plc-b', plcB.port, '\n    hots: 127.0.0.1')}`);
    g.child!.kill('SIGHUP');
    const refusal = new RegExp(`^Reload refused: ${dropIn}:7:5 devices\\[0\\]\\.hots: unknown key "hots"$`);
    await waitFor('the refusal at the drop-in', () => g.logLines().some((l) => refusal.test(l.msg)), 10_000);
    expect(reloads()).toHaveLength(1);
    expect(await names()).toEqual(['plc-a', 'plc-b']);

    rmSync(dropIn);
    g.child!.kill('SIGHUP');
    await waitFor('the reload without the drop-in', () => reloads().length === 2, 20_000);
    expect(reloads()[1]).toMatchObject({ added: [], removed: ['plc-b'] });
    expect(await names()).toEqual(['plc-a']);
    expect(await g.stop()).toBe(0);
  });
});
