// `npm run package` for real: the .deb and the .tar.gz are built, their contents inspected, and the .deb installed
// on this machine with dpkg (root, no running systemd: what a container or an image build sees), its gateway
// run as the service user against a simulated PLC, upgraded with the edited configuration kept, and removed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { ROOT } from './helpers/cli.js';
import { freePort, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const NAME = 'edge-gateway';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const ETC = '/etc/edge-gateway';

function sh(cmd: string, args: string[], opts: { timeout?: number; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 120_000, cwd: opts.cwd, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

const installed = () => sh('dpkg-query', ['-W', '-f=${Status} ${Version}', NAME]).stdout;

let out = '';
let deb = '';
let tarball = '';
let userExisted = false;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('the package is installed for real with dpkg and needs root (run as root, or in CI)');
  if (spawnSync('dpkg-deb', ['--version']).error) throw new Error('dpkg-deb is missing: this test needs Debian or Ubuntu (apt-get install dpkg)');
  if (installed().includes('installed') || existsSync('/opt/edge-gateway')) {
    throw new Error('edge-gateway is already installed on this machine (dpkg or /opt/edge-gateway): this test installs and removes the package for real, so it runs only where it is not');
  }
  userExisted = sh('getent', ['passwd', NAME]).code === 0;
  out = mkdtempSync(join(tmpdir(), 'edge-package-'));
  cleanups.push(() => rmSync(out, { recursive: true, force: true }));
  cleanups.push(() => {
    // Whatever a failed test left behind on this machine goes.
    if (installed().length > 0) sh('dpkg', ['--purge', NAME]);
    rmSync(ETC, { recursive: true, force: true });
    rmSync('/var/lib/edge-gateway', { recursive: true, force: true });
    if (!userExisted && sh('getent', ['passwd', NAME]).code === 0) sh('userdel', [NAME]);
  });
  const r = sh('npm', ['run', '--silent', 'package', '--', '--out', out], { timeout: 900_000 });
  expect(r.code, r.out).toBe(0);
  const arch = sh('dpkg', ['--print-architecture']).stdout.trim();
  deb = join(out, `${NAME}_${VERSION}_${arch}.deb`);
  tarball = join(out, `${NAME}_${VERSION}_${arch}.tar.gz`);
  expect(existsSync(deb), r.out).toBe(true);
  expect(existsSync(tarball), r.out).toBe(true);
}, 900_000);

describe('npm run package', () => {
  it('builds a .deb for this Node major with the release, the site template, the schema, conf.d and the units', () => {
    const field = (f: string) => sh('dpkg-deb', ['-f', deb, f]).stdout.trim();
    expect(field('Package')).toBe(NAME);
    expect(field('Version')).toBe(VERSION);
    // The native addons load in the Node major they were built for only.
    expect(field('Depends')).toContain(`nodejs (<< ${NODE_MAJOR + 1})`);
    expect(field('Depends')).toMatch(new RegExp(`nodejs \\(>= ${NODE_MAJOR === 20 ? '20\\.19' : NODE_MAJOR}\\)`));
    expect(field('Depends')).toContain('libzstd1');
    expect(field('Description')).toContain(`Node.js ${NODE_MAJOR} (NODE_MODULE_VERSION ${process.versions.modules})`);

    const files = sh('dpkg-deb', ['-c', deb]).stdout.split('\n').map((l) => l.split(/\s+/)[5] ?? '');
    for (const f of [
      './etc/edge-gateway/gateway.yaml',
      './etc/edge-gateway/gateway.schema.json',
      './etc/edge-gateway/conf.d/',
      './lib/systemd/system/edge-gateway.service',
      './lib/systemd/system/edge-gateway-broker.service',
      './opt/edge-gateway/dist/edge/cli.js',
      './opt/edge-gateway/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      './opt/edge-gateway/node_modules/unix-dgram/build/Release/unix_dgram.node',
      './opt/edge-gateway/node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node',
      './opt/edge-gateway/node_modules/@confluentinc/kafka-javascript/build/deps/librdkafka.so.1',
      './opt/edge-gateway/node_modules/kafkajs/package.json',
      './usr/bin/edge-gateway',
    ]) expect(files, f).toContain(f);
    // Production packages only, and nothing that only a build needs.
    for (const absent of ['/node_modules/vitest/', '/node_modules/typescript/', '/node_modules/@confluentinc/kafka-javascript/deps/', '/node_modules/better-sqlite3/deps/', '/obj.target/', '/src/edge/']) {
      expect(files.filter((f) => f.includes(absent)), absent).toEqual([]);
    }
    const conffiles = sh('dpkg-deb', ['-I', deb, 'conffiles']).stdout.split('\n');
    expect(conffiles).toContain('/etc/edge-gateway/gateway.yaml');
    expect(conffiles).toContain('/etc/edge-gateway/gateway.schema.json');
  });

  it('builds a .tar.gz of the same release, which runs where it is unpacked', () => {
    const list = sh('tar', ['-tzf', tarball]).stdout.split('\n');
    const top = `${NAME}-${VERSION}/`;
    for (const f of ['dist/edge/cli.js', 'scripts/install.sh', 'scripts/service-units.mjs', 'systemd/edge-gateway.service', 'config/site/gateway.yaml', 'config/gateway.schema.json', 'BUILD-INFO', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node']) {
      expect(list, f).toContain(top + f);
    }
    expect(list.filter((f) => f.includes('/node_modules/vitest/'))).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'edge-tarball-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    expect(sh('tar', ['-xzf', tarball, '-C', dir]).code).toBe(0);
    const release = join(dir, `${NAME}-${VERSION}`);
    expect(readFileSync(join(release, 'BUILD-INFO'), 'utf8')).toContain(`built for Node.js ${NODE_MAJOR} (NODE_MODULE_VERSION ${process.versions.modules})`);
    const version = sh(process.execPath, [join(release, 'dist/edge/cli.js'), '--version']);
    expect(version.code, version.out).toBe(0);
    expect(version.stdout).toContain(`edge-gateway ${VERSION}`);
    // Its librdkafka is the one it carries, found from where it is unpacked.
    const rdkafka = sh(process.execPath, ['-p', 'require.resolve("@confluentinc/kafka-javascript") + " " + require("@confluentinc/kafka-javascript").librdkafkaVersion'], { cwd: release });
    expect(rdkafka.code, rdkafka.out).toBe(0);
    expect(rdkafka.stdout).toContain(join(release, 'node_modules/@confluentinc/kafka-javascript'));
  });

  it('installs with dpkg, runs as the service user against a PLC, keeps the edited configuration on upgrade, and is removed', async () => {
    const first = sh('dpkg', ['-i', deb], { timeout: 300_000 });
    expect(first.code, first.out).toBe(0);
    expect(installed()).toBe(`install ok installed ${VERSION}`);
    // No systemd runs here: the units are enabled for the next boot, nothing is started.
    expect(first.out).toContain('systemd is not running here');
    expect(sh('getent', ['passwd', NAME]).stdout).toMatch(/^edge-gateway:x:\d+:\d+::\/var\/lib\/edge-gateway:\/usr\/sbin\/nologin/);
    for (const unit of ['edge-gateway.service', 'edge-gateway-broker.service']) {
      expect(lstatSync(`/etc/systemd/system/multi-user.target.wants/${unit}`).isSymbolicLink(), unit).toBe(true);
    }
    const uid = Number(sh('id', ['-u', NAME]).stdout);
    const gid = Number(sh('id', ['-g', NAME]).stdout);
    expect(statSync('/var/lib/edge-gateway').uid).toBe(uid);
    expect(statSync(`${ETC}/gateway.yaml`).mode & 0o777).toBe(0o640);
    expect(statSync(`${ETC}/gateway.yaml`).gid).toBe(gid);

    // The template as shipped validates, and points at nothing of the demo.
    const shipped = readFileSync(`${ETC}/gateway.yaml`, 'utf8');
    expect(shipped).not.toContain('127.0.0.1:5020');
    const valid = sh('/usr/bin/edge-gateway', ['validate', '--config', `${ETC}/gateway.yaml`]);
    expect(valid.code, valid.out).toBe(0);

    // A technician's edits: the ports this test may use, a Kafka that is not there (the journal keeps
    // everything), and a PLC in a drop-in.
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.writeFloat32(0, 21.5);
    const ports = { mqtt: await freePort(), http: await freePort(), kafka: await freePort() };
    const doc = parseDocument(shipped);
    doc.setIn(['broker', 'listen'], `127.0.0.1:${ports.mqtt}`);
    doc.setIn(['http', 'listen'], `127.0.0.1:${ports.http}`);
    doc.setIn(['uplink', 'kafka', 'brokers'], [`127.0.0.1:${ports.kafka}`]);
    const edited = doc.toString();
    writeFileSync(`${ETC}/gateway.yaml`, edited);
    const dropIn = [
      'devices:',
      '  - name: press-01',
      '    driver: modbus-tcp',
      '    host: 127.0.0.1',
      `    port: ${plc.port}`,
      '    unit_id: 1',
      '    poll: 500ms',
      '    tags:',
      '      - { name: temperature, table: holding, address: 0, type: float32, unit: degC }',
      '',
    ].join('\n');
    writeFileSync(`${ETC}/conf.d/press.yaml`, dropIn);
    const merged = sh('/usr/bin/edge-gateway', ['validate', '--config', `${ETC}/gateway.yaml`]);
    expect(merged.code, merged.out).toBe(0);
    expect(merged.out).toContain('conf.d/press.yaml');

    // As the units run them: the broker in its own process, then the gateway, both as the service user.
    const procs: ChildProcess[] = [];
    const logs: string[] = [];
    const runAs = (command: string) => {
      const child = spawn('runuser', ['-u', NAME, '--', '/usr/bin/edge-gateway', command, '--config', `${ETC}/gateway.yaml`], { cwd: '/var/lib/edge-gateway', stdio: ['ignore', 'pipe', 'pipe'] });
      const i = logs.push('') - 1;
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (logs[i] += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (logs[i] += c));
      procs.push(child);
      return child;
    };
    const stopAll = () => Promise.all(procs.reverse().map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => { p.once('close', r); p.kill('SIGTERM'); }))));
    cleanups.push(() => { for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });
    runAs('broker');
    runAs('run');
    type Status = { devices: Array<{ name: string; polls: number; tags: Array<{ name: string; value: unknown; quality: string }> }>; journal: { captured: number; records: number } };
    const status = await waitFor('the installed gateway to poll the PLC and journal its samples', async () => {
      try {
        const s = (await (await fetch(`http://127.0.0.1:${ports.http}/api/status`)).json()) as Status;
        return s.devices[0]?.tags[0]?.quality === 'good' && s.journal.records > 0 ? s : undefined;
      } catch {
        return undefined;
      }
    }, 60_000, 250).catch((err: Error) => { throw new Error(`${err.message}\n${logs.join('\n---\n')}`); });
    expect(status.devices[0]!.name).toBe('press-01');
    expect(status.devices[0]!.tags[0]!.value).toBe(21.5);
    await stopAll();
    // The journal is the service user's, where the unit keeps its state.
    expect(statSync('/var/lib/edge-gateway/journal.db').uid).toBe(uid);

    // An upgrade: the same release under the next version. dpkg keeps the edited conffile, the drop-in is not
    // the package's, and the units stay enabled.
    const next = join(out, 'next');
    expect(sh('dpkg-deb', ['-R', deb, next]).code).toBe(0);
    const control = join(next, 'DEBIAN/control');
    writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${VERSION}+1`));
    const nextDeb = join(out, 'next.deb');
    const built = sh('dpkg-deb', ['--build', '--root-owner-group', '-Zgzip', '-z1', next, nextDeb], { timeout: 300_000 });
    expect(built.code, built.out).toBe(0);
    const upgrade = sh('dpkg', ['-i', nextDeb], { timeout: 300_000 });
    expect(upgrade.code, upgrade.out).toBe(0);
    expect(installed()).toBe(`install ok installed ${VERSION}+1`);
    expect(readFileSync(`${ETC}/gateway.yaml`, 'utf8')).toBe(edited);
    expect(readFileSync(`${ETC}/conf.d/press.yaml`, 'utf8')).toBe(dropIn);
    expect(upgrade.out).not.toContain('created the system user');
    expect(sh('/usr/bin/edge-gateway', ['validate', '--config', `${ETC}/gateway.yaml`]).code).toBe(0);

    // Removal takes the release and the units and keeps the configuration; a purge takes the configuration
    // and keeps the journal (it may hold samples Kafka never acknowledged).
    const remove = sh('dpkg', ['--remove', NAME], { timeout: 300_000 });
    expect(remove.code, remove.out).toBe(0);
    for (const gone of ['/opt/edge-gateway', '/usr/bin/edge-gateway', '/lib/systemd/system/edge-gateway.service', '/etc/systemd/system/multi-user.target.wants/edge-gateway.service']) {
      expect(existsSync(gone) || isLink(gone), gone).toBe(false);
    }
    expect(readFileSync(`${ETC}/gateway.yaml`, 'utf8')).toBe(edited);
    const purge = sh('dpkg', ['--purge', NAME], { timeout: 300_000 });
    expect(purge.code, purge.out).toBe(0);
    expect(existsSync(`${ETC}/gateway.yaml`)).toBe(false);
    expect(existsSync('/var/lib/edge-gateway/journal.db')).toBe(true);
    expect(purge.out).toContain('kept /var/lib/edge-gateway');
    expect(installed()).not.toContain('installed');
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
