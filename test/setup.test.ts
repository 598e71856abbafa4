// scripts/setup.sh, the pretest step, run for real in ways that cannot change this machine: each run gets a PATH
// of symlinks to this machine's tools, one of them left out, and apt-get replaced by a stub that records its calls.
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const SETUP = path.join(ROOT, 'scripts', 'setup.sh');
const isRoot = process.getuid?.() === 0;
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A world for one run: bin/ holds a symlink to every tool of `from` (first one wins, as on a PATH), except
 * `leaveOut`; bin/apt-get is a stub that appends its arguments and DEBIAN_FRONTEND to calls.log and exits
 * `aptExit`, and (unless `installs` is false) asked to install, it links `leaveOut` into bin/ as apt-get would.
 */
function world(o: { from: string[]; leaveOut?: string; aptExit: number; installs?: boolean }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-setup-'));
  dirs.push(dir);
  chmodSync(dir, 0o755);
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls.log');
  let real: string | undefined;
  mkdirSync(bin);
  for (const d of o.from) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(d, name);
      if (name === o.leaveOut) real ??= file;
      if (name === o.leaveOut || name === 'apt-get' || existsSync(path.join(bin, name))) continue;
      try {
        accessSync(file, constants.X_OK);
        symlinkSync(file, path.join(bin, name));
      } catch {
        /* not a tool, a dangling link, or a name seen already */
      }
    }
  }
  const stub = [
    '#!/bin/bash',
    `printf '%s\\n' "DEBIAN_FRONTEND=\${DEBIAN_FRONTEND:-} $*" >> ${JSON.stringify(log)}`,
    real && o.installs !== false ? `[[ " $* " == *" install "* ]] && ln -s ${JSON.stringify(real)} ${JSON.stringify(path.join(bin, o.leaveOut!))}` : '',
    `exit ${o.aptExit}`,
    '',
  ].join('\n');
  writeFileSync(path.join(bin, 'apt-get'), stub, { mode: 0o755 });
  return {
    bin,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    run(as: 'root' | 'nobody') {
      const cmd = as === 'nobody' ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'bash', SETUP, '--system-only'] : ['bash', SETUP, '--system-only'];
      const env: Record<string, string> = { PATH: bin, HOME: dir, LANG: 'C' };
      if (process.env.CHROMIUM_PATH) env.CHROMIUM_PATH = process.env.CHROMIUM_PATH;
      const started = Date.now();
      const r = spawnSync('/usr/bin/env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd], { encoding: 'utf8', timeout: 30_000 });
      return { code: r.status, out: `${r.stdout}${r.stderr}`, ms: Date.now() - started };
    },
  };
}

// The tools this run of the tests has (the first python3 on PATH may be one that only root can reach).
const rootPath = (process.env.PATH ?? '').split(':').filter(Boolean);

describe('scripts/setup.sh --system-only', () => {
  it.skipIf(!isRoot || !existsSync('/usr/bin/setpriv'))('as a user who is not root, with socat missing: prints the one apt-get command for socat and exits 1', () => {
    // A user's world: the system's directories only (the python3 of a root-only pyenv is out of reach).
    const w = world({ from: SYSTEM_DIRS, leaveOut: 'socat', aptExit: 1 });
    const r = w.run('nobody');
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('sudo apt-get install -y socat\n');
    expect(r.out.match(/apt-get install/g), r.out).toHaveLength(1);
    expect(r.out).toMatch(/serial-line pairs/);
    expect(w.calls(), 'apt-get run as a user').toEqual([]);
  });

  it.skipIf(!isRoot)('as root with everything present: exits 0 within 2 s and runs no apt-get', () => {
    const w = world({ from: rootPath, aptExit: 1 });
    const r = w.run('root');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toBe('setup: system packages present\n');
    expect(w.calls()).toEqual([]);
    expect(r.ms).toBeLessThan(2000);
  });

  it.skipIf(!isRoot)('as root with socat missing: apt-get update, then install of socat alone, noninteractive, said once', () => {
    const w = world({ from: rootPath, leaveOut: 'socat', aptExit: 0 });
    const r = w.run('root');
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/^setup: installing .*$/gm), r.out).toEqual(['setup: installing socat (for: serial-line pairs for the Modbus RTU tests)']);
    const calls = w.calls();
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatch(/^DEBIAN_FRONTEND=noninteractive update\b/);
    const install = calls[1].split(' ');
    expect(install.slice(0, 2)).toEqual(['DEBIAN_FRONTEND=noninteractive', 'install']);
    expect(install).toContain('-y');
    expect(install).toContain('--no-install-recommends');
    expect(install.slice(2).filter((a) => !a.startsWith('-'))).toEqual(['socat']);
  });

  it.skipIf(!isRoot)('as root, when apt-get fails or installs nothing: says so and exits 1', () => {
    const failing = world({ from: rootPath, leaveOut: 'kcat', aptExit: 1 }).run('root');
    expect(failing.code, failing.out).toBe(1);
    expect(failing.out).toMatch(/^setup: installing kcat \(for: /m);
    expect(failing.out).toMatch(/apt-get update failed/);

    const idle = world({ from: rootPath, leaveOut: 'kcat', aptExit: 0, installs: false }).run('root');
    expect(idle.code, idle.out).toBe(1);
    expect(idle.out).toMatch(/still missing after apt-get install: kcat$/m);
  });

  it('EDGE_SETUP=skip does nothing', () => {
    const r = spawnSync('/bin/bash', [SETUP], { encoding: 'utf8', env: { EDGE_SETUP: 'skip', PATH: '/nonexistent' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('setup: skipped (EDGE_SETUP=skip)\n');
  });
});
