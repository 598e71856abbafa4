// The gateway under systemd's notify protocol (Type=notify, WatchdogSec=), against a fake NOTIFY_SOCKET that
// records every datagram: READY=1 once the journal is open and the broker listens, WATCHDOG=1 every half
// WATCHDOG_USEC while polling and journaling make progress and never while they do not, STOPPING=1 on SIGTERM,
// RELOADING=1/READY=1 around a SIGHUP reload.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { sleep, waitFor } from './helpers/net.js';
import { FakeNotifySocket, longestWatchdogSilence, type NotifyMessage } from './helpers/notify-socket.js';
import { cleanupAfterAll } from './helpers/suite.js';

/** systemd restarts after 2 s without WATCHDOG=1; the gateway feeds every 1 s. */
const WATCHDOG_MS = 2000;
const cleanups = cleanupAfterAll();

async function created(o: { extraYaml?: string; command?: 'run' | 'broker'; beforeStart?: (dir: string) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-sd-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const notify = await FakeNotifySocket.start(dir);
  cleanups.push(() => notify.close());
  o.beforeStart?.(dir);
  const g = await GatewayProcess.create({
    dir,
    command: o.command,
    extraYaml: o.extraYaml ?? '',
    env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(WATCHDOG_MS * 1000) },
  });
  cleanups.push(() => g.kill());
  return { g, notify };
}

async function underSystemd(o: { extraYaml?: string; command?: 'run' | 'broker'; beforeStart?: (dir: string) => void } = {}) {
  const { g, notify } = await created(o);
  await g.start();
  const ready = await notify.waitFor('READY=1', 'READY', '1');
  return { g, notify, ready };
}

/** A 16 MiB tmpfs as the gateway's data_dir: a real disk to fill. */
function tmpfsDataDir(dir: string): string {
  const data = join(dir, 'data');
  mkdirSync(data);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', data], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test fills a real disk: it mounts a 16 MiB tmpfs and needs root (run as root, or in CI): ${(err as Error).message}`);
  }
  cleanups.push(() => execFileSync('umount', ['-l', data], { stdio: 'pipe' }));
  return data;
}

/** Writes `dir/filler` until the disk is full; returns its path. */
function fillDisk(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(64 * 1024));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return filler;
}

const plcDevice = (name: string, port: number) =>
  `  - { name: ${name}, driver: modbus-tcp, host: 127.0.0.1, port: ${port}, poll: 100ms, timeout: 300ms, tags: [{ name: v, table: holding, address: 0, type: uint16 }] }\n`;

async function changingPlc() {
  const plc = await startSimulatedPlc({ port: 0 });
  let i = 0;
  const timer = setInterval(() => plc.setHolding(0, [++i % 65536]), 50);
  cleanups.push(() => {
    clearInterval(timer);
    return plc.close();
  });
  return plc;
}

/** The recorded datagrams as lines for the test output: seconds after t0, then the fields. */
function timeline(messages: NotifyMessage[], t0: number, marks: Record<string, number> = {}): string {
  const rows = [
    ...messages.map((m) => ({ t: m.t, text: Object.entries(m.fields).map(([k, v]) => `${k}=${v}`).join(' ') })),
    ...Object.entries(marks).map(([text, t]) => ({ t, text: `-- ${text}` })),
  ].sort((a, b) => a.t - b.t);
  return rows.map((r) => `${((r.t - t0) / 1000).toFixed(3).padStart(8)} s  ${r.text}`).join('\n');
}

const feeds = (n: FakeNotifySocket, from: number, to = Infinity) => n.with('WATCHDOG', '1', from).filter((m) => m.t <= to);

describe('systemd notify protocol (fake NOTIFY_SOCKET)', () => {
  it('READY=1 after the journal is open and the broker listens; WATCHDOG=1 every half interval; STOPPING=1 on SIGTERM', async () => {
    const plc = await changingPlc();
    const { g, notify, ready } = await underSystemd({ extraYaml: `devices:\n${plcDevice('press-01', plc.port)}` });
    const logs = g.logLines();
    const journalOpen = logs.find((l) => l.msg === 'Journal open.')!;
    const brokerUp = logs.find((l) => l.msg === 'Local MQTT broker listening.')!;
    expect(notify.messages()[0]!.fields.READY).toBe('1'); // nothing before it
    expect(ready.t).toBeGreaterThanOrEqual(journalOpen.time);
    expect(ready.t).toBeGreaterThanOrEqual(brokerUp.time);
    expect(ready.pid).toBe(g.child!.pid); // from the main process, as NotifyAccess=main requires
    expect(ready.fields.STATUS).toMatch(/devices answering; uplink disabled; Sparkplug online; journal \d+ records/);

    await sleep(6000);
    const fed = feeds(notify, ready.t);
    expect(fed.length).toBeGreaterThanOrEqual(4);
    expect(fed.every((m) => m.pid === g.child!.pid)).toBe(true);
    expect(longestWatchdogSilence(notify.messages(), ready.t, Date.now())).toBeLessThan(WATCHDOG_MS);
    expect(notify.with('STATUS').at(-1)!.fields.STATUS).toMatch(/^1\/1 devices answering/);

    const stopAt = Date.now();
    expect(await g.stop()).toBe(0);
    const stopping = notify.with('STOPPING', '1');
    expect(stopping).toHaveLength(1);
    expect(stopping[0]!.t).toBeGreaterThanOrEqual(stopAt);
    expect(feeds(notify, stopping[0]!.t)).toHaveLength(0);
    console.log(`notify socket, healthy gateway (t0 = READY=1, WATCHDOG_USEC=${WATCHDOG_MS * 1000}):\n${timeline(notify.messages(), ready.t, { 'Journal open. (log)': journalOpen.time, 'Local MQTT broker listening. (log)': brokerUp.time, SIGTERM: stopAt })}`);
  });

  it('a PLC that stops answering is no reason to restart: the watchdog is fed while the poll loop retries', async () => {
    const plc = await changingPlc();
    const { g, notify } = await underSystemd({ extraYaml: `devices:\n${plcDevice('press-01', plc.port)}` });
    await waitFor('the device to answer', async () => (await g.status()).devices[0].state === 'up', 10_000);
    plc.pause(); // a hung PLC: the TCP connection stays, no answer comes
    await waitFor('the device to be down', async () => (await g.status()).devices[0].state === 'down', 10_000);
    const from = Date.now();
    await sleep(6000);
    expect(feeds(notify, from).length).toBeGreaterThanOrEqual(4);
    expect(longestWatchdogSilence(notify.messages(), from, Date.now())).toBeLessThan(WATCHDOG_MS);
    expect(notify.with('STATUS', undefined, from).at(-1)?.fields.STATUS ?? notify.with('STATUS').at(-1)!.fields.STATUS).toMatch(/^0\/1 devices answering/);
    expect((await g.status()).devices[0].errors).toBeGreaterThan(3); // it kept trying
    // One line per outage, not one per failed poll.
    expect(g.logLines().filter((l) => String(l.msg).includes('is not answering'))).toHaveLength(1);
    expect(g.logLines().some((l) => String(l.msg).includes('Not feeding'))).toBe(false);
    expect(await g.stop()).toBe(0);
  });

  it('a stuck event loop sends nothing (SIGSTOP); feeding resumes with the loop (SIGCONT)', async () => {
    const plc = await changingPlc();
    const { g, notify, ready } = await underSystemd({ extraYaml: `devices:\n${plcDevice('press-01', plc.port)}` });
    await sleep(2500);
    const stoppedAt = Date.now();
    g.child!.kill('SIGSTOP');
    await sleep(3500);
    const contAt = Date.now();
    g.child!.kill('SIGCONT');
    await notify.waitFor('WATCHDOG=1 after SIGCONT', 'WATCHDOG', '1', contAt, 5000);
    expect(feeds(notify, stoppedAt + 50, contAt)).toHaveLength(0);
    expect(longestWatchdogSilence(notify.messages(), ready.t, contAt)).toBeGreaterThan(WATCHDOG_MS); // systemd would restart
    expect(await g.stop()).toBe(0);
    console.log(`notify socket, stuck event loop:\n${timeline(notify.messages(), ready.t, { SIGSTOP: stoppedAt, SIGCONT: contAt })}`);
  });

  it('a journal on a full disk keeps the watchdog fed (a restart frees no space and would lose what waits), and says so', async () => {
    const plc = await changingPlc();
    let data = '';
    const { g, notify, ready } = await underSystemd({
      extraYaml: `devices:\n${plcDevice('press-01', plc.port)}`,
      beforeStart: (dir) => (data = tmpfsDataDir(dir)),
    });
    await waitFor('the device to answer', async () => (await g.status()).devices[0].state === 'up', 10_000);
    await sleep(1500);
    const fullAt = Date.now();
    const filler = fillDisk(data);
    await waitFor('the journal to report its write failure', () => g.logLines().some((l) => /The journal cannot write/.test(String(l.msg))), 10_000);
    await sleep(4 * WATCHDOG_MS / 2);
    const freedAt = Date.now();
    // Fed all along: no silence as long as systemd's interval while the disk was full.
    expect(longestWatchdogSilence(notify.messages(), fullAt, freedAt)).toBeLessThan(WATCHDOG_MS);
    expect(g.logLines().filter((l) => String(l.msg).startsWith('Not feeding'))).toHaveLength(0);
    expect((await g.status()).journal.writeError).toMatch(/cannot write/);
    rmSync(filler);
    await waitFor('the journal to write again', () => g.logLines().some((l) => l.msg === 'The journal writes again.'), 15_000);
    expect(await g.stop()).toBe(0);
    console.log(`notify socket, journal on a full disk:\n${timeline(notify.messages(), ready.t, { 'disk filled': fullAt, 'disk freed': freedAt })}`);
  });

  it('a start-up that waits for disk space asks for more time (EXTEND_TIMEOUT_USEC) and is READY=1 once there is space', async () => {
    let data = '';
    const { g, notify } = await created({ beforeStart: (dir) => (data = tmpfsDataDir(dir)) });
    const filler = fillDisk(data);
    const startAt = Date.now();
    const starting = g.start();
    starting.catch(() => undefined); // awaited below, once space returns
    const extend = await notify.waitFor('EXTEND_TIMEOUT_USEC', 'EXTEND_TIMEOUT_USEC', undefined, 0, 20_000);
    expect(Number(extend.fields.EXTEND_TIMEOUT_USEC)).toBeGreaterThanOrEqual(20_000_000);
    expect(extend.fields.STATUS).toBe('starting: the journal waits for disk space');
    expect(notify.with('READY')).toHaveLength(0);
    const freedAt = Date.now();
    rmSync(filler);
    await starting;
    const ready = await notify.waitFor('READY=1 once there is space', 'READY', '1', freedAt);
    expect(await g.stop()).toBe(0);
    console.log(`notify socket, start-up on a full disk:\n${timeline(notify.messages(), startAt, { spawn: startAt, 'disk freed': freedAt })}`);
    expect(ready.t).toBeGreaterThan(freedAt);
  });

  it('SIGTERM during a start-up that waits for disk space ends the process at once', async () => {
    let data = '';
    const { g, notify } = await created({ beforeStart: (dir) => (data = tmpfsDataDir(dir)) });
    fillDisk(data);
    g.start().catch(() => undefined); // never ready: it is stopped while waiting
    await notify.waitFor('EXTEND_TIMEOUT_USEC', 'EXTEND_TIMEOUT_USEC', undefined, 0, 20_000);
    const stopAt = Date.now();
    expect(await g.stop()).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(3000);
    expect(notify.with('READY')).toHaveLength(0);
  });

  it('SIGHUP reloads a valid configuration (RELOADING=1, then READY=1) and refuses an invalid one, running on', async () => {
    const plc = await changingPlc();
    const { g, notify, ready } = await underSystemd({ extraYaml: `devices:\n${plcDevice('press-01', plc.port)}` });
    const pid = g.child!.pid;
    const original = readFileSync(g.configFile, 'utf8');
    writeFileSync(g.configFile, original + plcDevice('press-02', plc.port));
    const hupAt = Date.now();
    g.child!.kill('SIGHUP');
    const reloading = await notify.waitFor('RELOADING=1', 'RELOADING', '1', hupAt);
    expect(reloading.fields.MONOTONIC_USEC).toMatch(/^\d+$/);
    const again = await notify.waitFor('READY=1 after the reload', 'READY', '1', reloading.t);
    expect((await g.status()).devices.map((d: { name: string }) => d.name)).toEqual(['press-01', 'press-02']);
    expect(g.child!.pid).toBe(pid);

    writeFileSync(g.configFile, `${original}  - { name: broken }\n`);
    const badAt = Date.now();
    g.child!.kill('SIGHUP');
    const refused = await waitFor('the refusal', () => g.logLines().find((l) => String(l.msg).startsWith('Reload refused') && Array.isArray(l.problems)), 10_000);
    expect(refused.level).toBe(50);
    expect(refused.problems.join('\n')).toMatch(/devices\[1\]\.driver/);
    await sleep(2500);
    expect(notify.with('RELOADING', undefined, badAt)).toHaveLength(0);
    expect(feeds(notify, badAt).length).toBeGreaterThanOrEqual(1);
    expect((await g.status()).devices).toHaveLength(2); // runs on with what it had
    expect(await g.stop()).toBe(0);
    console.log(`notify socket, reload:\n${timeline(notify.messages(), ready.t, { 'SIGHUP (valid)': hupAt, 'SIGHUP (invalid)': badAt })}`);
    expect(again.t).toBeGreaterThan(reloading.t);
  });

  it('edge-gateway broker: READY=1 once it listens, WATCHDOG=1 while its loop runs, STOPPING=1', async () => {
    const { g, notify, ready } = await underSystemd({ command: 'broker' });
    const listening = g.logLines().find((l) => l.msg === 'Local MQTT broker listening.')!;
    expect(ready.t).toBeGreaterThanOrEqual(listening.time);
    expect(ready.fields.STATUS).toMatch(/^MQTT broker on mqtt:\/\/127\.0\.0\.1:\d+; 0 clients, 0 logging in$/);
    await sleep(3000);
    expect(feeds(notify, ready.t).length).toBeGreaterThanOrEqual(2);
    expect(await g.stop()).toBe(0);
    expect(notify.with('STOPPING', '1')).toHaveLength(1);
  });
});
