// The unit files: systemd-analyze verify accepts them without one warning, they hold what the service needs,
// and their command lines do what systemd will do with them: validate, run until READY=1, reload = validate
// then SIGHUP, stop on SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';
import { track } from './helpers/gateway.js';
import { freePort, waitFor } from './helpers/net.js';
import { FakeNotifySocket } from './helpers/notify-socket.js';
import { cleanupAfterAll } from './helpers/suite.js';

const UNITS = ['edge-gateway.service', 'edge-gateway-broker.service'].map((u) => join(ROOT, 'systemd', u));
const cleanups = cleanupAfterAll();

function analyze(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error("systemd-analyze is missing: apt-get install systemd (Debian's package; bash .ci/run installs it)");
  }
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** `Key=Value` lines by section; a key given several times keeps every value, in order. */
function parseUnit(file: string): Record<string, Record<string, string[]>> {
  const unit: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    ((unit[section]![line.slice(0, eq)] ??= [])).push(line.slice(eq + 1));
  }
  return unit;
}

describe('systemd unit files', () => {
  it('pass systemd-analyze verify without a single warning', () => {
    const { code, output } = analyze(['verify', ...UNITS]);
    console.log(`systemd-analyze verify systemd/edge-gateway.service systemd/edge-gateway-broker.service: exit ${code}, output: ${output === '' ? '(none)' : output}`);
    expect(code).toBe(0);
    // Unrelated units of this machine that verify loads may complain; nothing may name ours.
    expect(output.split('\n').filter((l) => l.includes('edge-gateway'))).toEqual([]);
  });

  it('the no-warning check is not vacuous: verify exits 0 on a misspelt Type= but names the unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-unit-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const broken = join(dir, 'edge-gateway.service');
    writeFileSync(broken, readFileSync(UNITS[0]!, 'utf8').replace('Type=notify', 'Type=notfy'));
    const { code, output } = analyze(['verify', broken]);
    expect(code).toBe(0);
    expect(output.split('\n').filter((l) => l.includes('edge-gateway'))).not.toEqual([]);
  });

  it('the gateway unit: Type=notify with a watchdog, validate before start and reload, its own user, serial ports usable', () => {
    const { Unit: unit, Service: s, Install: install } = parseUnit(UNITS[0]!) as Record<string, Record<string, string[]>>;
    expect(s!.Type).toEqual(['notify']);
    expect(s!.NotifyAccess).toEqual(['main']);
    expect(s!.WatchdogSec).toEqual(['30s']);
    expect(s!.Restart).toEqual(['always']);
    expect(s!.ExecStartPre).toEqual(['/usr/bin/env node /opt/edge-gateway/dist/edge/cli.js validate --config /etc/edge-gateway/gateway.yaml']);
    // V8's young generation and heap growth sized for a gateway (README, Benchmarks: memory).
    expect(s!.ExecStart).toEqual(['/usr/bin/env node --max-semi-space-size=4 --heap-growing-percent=25 /opt/edge-gateway/dist/edge/cli.js run --config /etc/edge-gateway/gateway.yaml']);
    expect(s!.ExecReload).toEqual([s!.ExecStartPre![0], '/bin/kill -HUP $MAINPID']);
    expect(s!.User).toEqual(['edge-gateway']);
    expect(s!.StateDirectory).toEqual(['edge-gateway']);
    expect(s!.ConfigurationDirectory).toEqual(['edge-gateway']);
    expect(s!.SupplementaryGroups).toEqual(['dialout']);
    // Node's JIT needs writable+executable memory; serial ports live in /dev.
    expect(s!.MemoryDenyWriteExecute).toBeUndefined();
    expect(s!.PrivateDevices).toBeUndefined();
    expect(s!.PrivateUsers).toBeUndefined();
    expect(s!.ProtectSystem).toEqual(['strict']);
    expect(s!.NoNewPrivileges).toEqual(['yes']);
    expect(unit!.After![0]).toContain('edge-gateway-broker.service');
    expect(install!.WantedBy).toEqual(['multi-user.target']);
  });

  it('the broker unit runs `broker` and is ordered before the gateway', () => {
    const { Unit: unit, Service: s } = parseUnit(UNITS[1]!) as Record<string, Record<string, string[]>>;
    expect(unit!.Before).toEqual(['edge-gateway.service']);
    expect(s!.Type).toEqual(['notify']);
    expect(s!.ExecStart).toEqual(['/usr/bin/env node /opt/edge-gateway/dist/edge/cli.js broker --config /etc/edge-gateway/gateway.yaml']);
    expect(s!.ExecStartPre![0]).toContain(' validate --config /etc/edge-gateway/gateway.yaml');
    expect(s!.Restart).toEqual(['always']);
  });

  it("runs the gateway unit's commands as systemd would: ExecStartPre, ExecStart to READY=1, ExecReload, SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-unit-'));
    const notify = await FakeNotifySocket.start(dir);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => notify.close());
    const config = join(dir, 'gateway.yaml');
    const good = `site: { group: unit-test, node: gw }\ndata_dir: ${join(dir, 'data')}\nbroker: { listen: 127.0.0.1:${await freePort()} }\nhttp: { listen: 127.0.0.1:${await freePort()} }\n`;
    writeFileSync(config, good);
    const { Service: s } = parseUnit(UNITS[0]!) as Record<string, Record<string, string[]>>;
    // The release in /opt/edge-gateway is this checkout; the configuration is the test's.
    const argv = (line: string, pid = 0) =>
      line.replaceAll('/opt/edge-gateway', ROOT.replace(/\/$/, '')).replaceAll('/etc/edge-gateway/gateway.yaml', config).replaceAll('$MAINPID', String(pid)).split(/\s+/);
    const exec = (line: string, pid = 0) => {
      const [cmd, ...args] = argv(line, pid);
      return spawnSync(cmd!, args, { cwd: dir, encoding: 'utf8', timeout: 30_000 }).status;
    };

    expect(exec(s!.ExecStartPre![0]!)).toBe(0);
    const [cmd, ...args] = argv(s!.ExecStart![0]!);
    const watchdogUsec = String(Number.parseInt(s!.WatchdogSec![0]!, 10) * 1_000_000);
    const main = spawn(cmd!, args, { cwd: dir, env: { ...process.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: watchdogUsec }, stdio: 'ignore' });
    track(main);
    cleanups.push(() => main.kill('SIGKILL'));
    const ready = await notify.waitFor('READY=1', 'READY', '1');
    // /usr/bin/env execs node: the process systemd started is the one that notifies.
    expect(ready.pid).toBe(main.pid);

    // systemctl reload: every ExecReload line in turn, stopping at the first that fails.
    const reload = () => {
      for (const line of s!.ExecReload!) if (exec(line, main.pid) !== 0) return false;
      return true;
    };
    const reloadAt = Date.now();
    expect(reload()).toBe(true);
    const reloading = await notify.waitFor('RELOADING=1', 'RELOADING', '1', reloadAt);
    await notify.waitFor('READY=1 after the reload', 'READY', '1', reloading.t);

    writeFileSync(config, `${good}devices: [{ name: x }]\n`);
    const badAt = Date.now();
    expect(reload()).toBe(false); // validate refuses: no SIGHUP is sent
    await new Promise((r) => setTimeout(r, 500));
    expect(notify.with('RELOADING', undefined, badAt)).toHaveLength(0);
    expect(main.exitCode).toBeNull();

    const exited = new Promise<number | null>((resolve) => main.once('exit', (code) => resolve(code)));
    main.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitFor('STOPPING=1', () => notify.with('STOPPING', '1').length === 1, 5000);
  });
});
