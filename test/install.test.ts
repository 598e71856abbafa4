// scripts/install.sh, run for real into a scratch root (--root): never into this machine's /opt or /etc.
// Needs root (it chowns to the service user and runs useradd --prefix on the scratch root's /etc/passwd).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { ROOT } from './helpers/cli.js';
import { cleanupAfterAll } from './helpers/suite.js';

const SCRIPT = join(ROOT, 'scripts/install.sh');
const cleanups = cleanupAfterAll();

function installSh(...args: string[]) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A scratch root with a copy of this machine's user database, which useradd --prefix then edits. */
function scratchRoot(): string {
  if (process.getuid?.() !== 0) throw new Error('install.sh is tested for real into a scratch root and needs root (run as root, or in CI)');
  if (spawnSync('useradd', ['--help']).error) throw new Error('useradd is missing: apt-get install passwd');
  const root = mkdtempSync(join(tmpdir(), 'edge-install-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  return root;
}

const configOf = (file: string) => parse(readFileSync(file, 'utf8')) as { data_dir: string; broker: { listen: string; embedded?: boolean } };
function setKey(file: string, path: string[], value: unknown): void {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.setIn(path, value);
  writeFileSync(file, doc.toString());
}

const entryOf = (root: string, db: 'passwd' | 'group', name: string) =>
  readFileSync(join(root, 'etc', db), 'utf8').split('\n').filter((l) => l.startsWith(`${name}:`));

describe('scripts/install.sh', () => {
  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', SCRIPT], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('installs, installs again without touching the configuration, and uninstalls keeping configuration, journal and user', () => {
    const root = scratchRoot();
    const hostBefore = { opt: existsSync('/opt/edge-gateway'), etc: existsSync('/etc/edge-gateway'), passwd: readFileSync('/etc/passwd', 'utf8') };

    const first = installSh('--root', root);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('created the system user edge-gateway');
    expect(first.out).toContain('put the site template in /etc/edge-gateway/gateway.yaml');

    // The user: a system account without a shell, in dialout for the serial ports.
    const [user] = entryOf(root, 'passwd', 'edge-gateway');
    expect(user).toMatch(/^edge-gateway:x:\d+:\d+::\/var\/lib\/edge-gateway:\/usr\/sbin\/nologin$/);
    const [, , uid, gid] = user!.split(':').map(String);
    if (entryOf(root, 'group', 'dialout').length > 0) expect(entryOf(root, 'group', 'dialout')[0]).toMatch(/[:,]edge-gateway(,|$)/);

    // The release: built code and production packages only, with the native addons it needs.
    const opt = join(root, 'opt/edge-gateway');
    expect(statSync(join(opt, 'dist/edge/cli.js')).mode & 0o111).not.toBe(0);
    expect(existsSync(join(opt, 'node_modules/better-sqlite3'))).toBe(true);
    expect(existsSync(join(opt, 'node_modules/unix-dgram'))).toBe(true);
    expect(existsSync(join(opt, 'node_modules/vitest'))).toBe(false);
    expect(readlinkSync(join(root, 'usr/local/bin/edge-gateway'))).toBe('/opt/edge-gateway/dist/edge/cli.js');

    // The configuration: the site template with its comments, readable by the service's group only, its data in
    // the StateDirectory; beside it the schema its $schema line names, and conf.d for the devices.
    const config = join(root, 'etc/edge-gateway/gateway.yaml');
    expect(readFileSync(config, 'utf8')).toBe(readFileSync(join(ROOT, 'config/site/gateway.yaml'), 'utf8'));
    expect(configOf(config).data_dir).toBe('/var/lib/edge-gateway');
    expect(readFileSync(join(root, 'etc/edge-gateway/gateway.schema.json'), 'utf8')).toBe(readFileSync(join(ROOT, 'config/gateway.schema.json'), 'utf8'));
    expect(statSync(join(root, 'etc/edge-gateway/conf.d')).isDirectory()).toBe(true);
    expect(existsSync(join(root, 'etc/edge-gateway/conf.d/README'))).toBe(true);
    expect(statSync(config).mode & 0o777).toBe(0o640);
    expect(String(statSync(config).gid)).toBe(gid);
    expect(String(statSync(join(root, 'var/lib/edge-gateway')).uid)).toBe(uid);
    const validate = spawnSync(process.execPath, [join(opt, 'dist/edge/cli.js'), 'validate', '--config', config], { encoding: 'utf8' });
    expect(validate.status, validate.stderr).toBe(0);

    // The units, the broker in its own unit and both enabled (systemd does not run on this root, so nothing is
    // started): hosts keep the broker, and get the gateway's NDEATH, when the gateway crashes.
    for (const unit of ['edge-gateway.service', 'edge-gateway-broker.service']) {
      expect(readFileSync(join(root, 'etc/systemd/system', unit), 'utf8')).toBe(readFileSync(join(ROOT, 'systemd', unit), 'utf8'));
    }
    expect(configOf(config).broker).toEqual({ listen: '127.0.0.1:1883', embedded: false });
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/edge-gateway.service');
    const brokerWants = join(root, 'etc/systemd/system/multi-user.target.wants/edge-gateway-broker.service');
    expect(lstatSync(wants).isSymbolicLink()).toBe(true);
    expect(lstatSync(brokerWants).isSymbolicLink()).toBe(true);

    // Again (an upgrade): the edited configuration and the journal stay as they are.
    const edited = `${readFileSync(config, 'utf8')}# edited on site\n`;
    writeFileSync(config, edited);
    writeFileSync(join(root, 'var/lib/edge-gateway/journal.db'), 'the journal');
    const second = installSh('--root', root);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain('kept the configuration');
    expect(second.out).not.toContain('created the system user');
    expect(readFileSync(config, 'utf8')).toBe(edited);
    expect(entryOf(root, 'passwd', 'edge-gateway')).toHaveLength(1);
    expect(existsSync(`${opt}.new`) || existsSync(`${opt}.old`)).toBe(false);

    const gone = installSh('--root', root, '--uninstall');
    expect(gone.code, gone.out).toBe(0);
    expect(existsSync(opt)).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/edge-gateway.service'))).toBe(false);
    expect(existsSync(wants)).toBe(false);
    expect(existsSync(brokerWants)).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/edge-gateway'))).toBe(false);
    expect(readFileSync(config, 'utf8')).toBe(edited);
    expect(readFileSync(join(root, 'var/lib/edge-gateway/journal.db'), 'utf8')).toBe('the journal');
    expect(entryOf(root, 'passwd', 'edge-gateway')).toHaveLength(1);

    // This machine was not touched.
    expect({ opt: existsSync('/opt/edge-gateway'), etc: existsSync('/etc/edge-gateway'), passwd: readFileSync('/etc/passwd', 'utf8') }).toEqual(hostBefore);
  });

  it('with --embedded-broker, and for a configuration whose broker is embedded, enables the gateway unit alone', () => {
    const root = scratchRoot();
    const r = installSh('--root', root, '--embedded-broker');
    expect(r.code, r.out).toBe(0);
    const config = join(root, 'etc/edge-gateway/gateway.yaml');
    expect(configOf(config).broker.embedded).toBe(true);
    // Only that key differs from the template: its comments are all there.
    expect(readFileSync(config, 'utf8').split('\n').filter((l) => /^\s*#/.test(l))).toEqual(readFileSync(join(ROOT, 'config/site/gateway.yaml'), 'utf8').split('\n').filter((l) => /^\s*#/.test(l)));
    const wantsDir = join(root, 'etc/systemd/system/multi-user.target.wants');
    expect(lstatSync(join(wantsDir, 'edge-gateway.service')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(wantsDir, 'edge-gateway-broker.service'))).toBe(false);

    // The site moves the broker out: the next install (an upgrade) enables its unit; moving it back disables it.
    setKey(config, ['broker', 'embedded'], false);
    expect(installSh('--root', root).code).toBe(0);
    expect(lstatSync(join(wantsDir, 'edge-gateway-broker.service')).isSymbolicLink()).toBe(true);
    setKey(config, ['broker', 'embedded'], true);
    expect(installSh('--root', root).code).toBe(0);
    expect(existsSync(join(wantsDir, 'edge-gateway-broker.service'))).toBe(false);
    expect(installSh('--root', root, '--uninstall').code).toBe(0);
  });

  it('refuses an unknown option and a missing root', () => {
    expect(installSh('--frobnicate').code).toBe(2);
    const r = installSh('--root', join(tmpdir(), 'no-such-root-for-edge-gateway'));
    expect(r.code).toBe(1);
    expect(r.out).toContain('no such directory');
  });
});
