// The local status page as a technician's browser sees it (Debian's headless Chromium), the probes, /metrics,
// and `edge-gateway status`, against a real gateway process polling a simulated PLC.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { launchChromium } from './helpers/chromium.js';
import { ROOT, runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const SCREENSHOT = join(ROOT, 'test-output', 'status-page.png');

const devicesYaml = (plcPort: number, deadPort: number) => `devices:
  - name: press-07
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    poll: 200ms
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: temperature, table: holding, address: 20, type: float32 }
      - { name: pump, table: coil, address: 3, type: bool }
  - name: dosing-pump-2
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${deadPort}
    poll: 1s
    timeout: 500ms
    tags:
      - { name: flow, table: input, address: 0, type: uint16 }
`;

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

describe('status page', () => {
  let plc: any;
  let g: GatewayProcess;

  beforeAll(async () => {
    plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    plc.setHolding(10, [1234]);
    plc.writeFloat32(20, 61.5);
    plc.setCoil(3, true);
    // A Kafka that is not there (a closed port) and a PLC that is not there: the page shows both as down.
    const kafkaPort = await freePort();
    g = await GatewayProcess.create({
      extraYaml: `${devicesYaml(plc.port, await freePort())}uplink:\n  kafka: { brokers: [127.0.0.1:${kafkaPort}], topic: t }\n`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('press-07 to be read and dosing-pump-2 to be down', async () => {
      const s = await g.status();
      return s.devices[0].tags.length === 3 && s.devices[1].state === 'down';
    }, 20_000);
  });

  it('shows the devices, their tag values and the journal depth in headless Chromium, and follows changes by itself', async () => {
    let browser: Browser;
    try {
      browser = await launchChromium();
    } catch (err) {
      throw new Error(`headless Chromium does not start: ${(err as Error).message}`);
    }
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const base = g.url('/');
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    // What the page was told last, to compare what it shows with.
    let told: any;
    page.on('response', async (r) => {
      if (r.url().endsWith('/api/status') && r.ok()) told = await r.json().catch(() => told);
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(base);

    const pageDepth = async () => Number((await page.locator('[data-field="journal-records"]').textContent())?.replace(/[^0-9]/g, '') || NaN);
    const tagText = (device: string, tag: string) => page.locator(`[data-device="${device}"] [data-tag="${tag}"] td.value`).textContent();

    // The device, a tag value, and the journal depth the API reports.
    await page.locator('[data-device="press-07"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-device="press-07"] .name').textContent()).toBe('press-07');
    expect(await tagText('press-07', 'level')).toBe('1234');
    expect(await tagText('press-07', 'temperature')).toBe('61.5');
    expect(await tagText('press-07', 'pump')).toBe('true');
    const depth = await waitFor('the page to show the journal depth of /api/status', async () => {
      const [shown, api] = [await pageDepth(), (await g.status()).journal.records];
      return shown === api && api > 0 ? api : undefined;
    }, 15_000);
    expect(depth).toBeGreaterThanOrEqual(2); // NBIRTH and DBIRTH at least; Kafka is not there

    // The journal's capacity at the capture rate, in the words of /api/status; the bound is 80% of the disk by default.
    const capacity = await waitFor('the page to show the capacity it was told', async () => {
      const shown = await page.locator('[data-field="journal-capacity"]').textContent();
      return told && shown === told.journal.capacity ? shown : undefined;
    }, 15_000);
    expect(capacity).toMatch(/^(holds [\d,.]+ (h|min)( \([\d,]+ (days|years)\))? at [\d,.]+ samples\/s|not known: no samples captured over the last minute)$/);
    expect(told.journal.maxBytesPercent).toBe(80);

    // The dead PLC is shown down with its error; the uplink down.
    expect(await page.locator('[data-device="dosing-pump-2"] .badge').textContent()).toBe('down');
    expect(await page.locator('[data-device="dosing-pump-2"] .device-error').textContent()).toMatch(/last error: .+/);
    await waitFor('the uplink to show down', async () => (await page.locator('#uplink-state').textContent()) === 'down', 20_000);

    // A new value on the PLC reaches the page without a reload, and the journal depth follows.
    plc.setHolding(10, [1300]);
    await waitFor('the page to show the new level', async () => (await tagText('press-07', 'level')) === '1300', 15_000);
    await waitFor('the page to show the new journal depth', async () => {
      const [shown, api] = [await pageDepth(), (await g.status()).journal.records];
      return shown === api && api > depth;
    }, 15_000);

    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Self-contained: nothing but the gateway itself was asked for anything.
    expect(requests.filter((u) => !u.startsWith(base))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('/healthz and /readyz answer 200; /metrics has polls, errors, samples, forwarded, dropped, journal bytes and uplink latency', async () => {
    expect(await get(g.url('/healthz'))).toMatchObject({ status: 200, body: 'ok\n' });
    // Kafka down is not a readiness failure: store-and-forward covers it.
    expect((await g.status()).uplink.state).toBe('down');
    expect(await get(g.url('/readyz'))).toMatchObject({ status: 200, body: 'ready\n' });

    const { body: metrics, type } = await get(g.url('/metrics'));
    expect(type).toMatch(/^text\/plain/);
    const metric = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(metric('edge_gateway_device_polls_total{device="press-07"}')).toBeGreaterThan(0);
    expect(metric('edge_gateway_device_errors_total{device="dosing-pump-2"}')).toBeGreaterThan(0);
    expect(metric('edge_gateway_samples_captured_total')).toBeGreaterThanOrEqual(3 + 1); // the DBIRTH's tags and a change
    expect(metric('edge_gateway_records_forwarded_total')).toBe(0);
    expect(metric('edge_gateway_journal_dropped_records_total{reason="max_bytes"}')).toBe(0);
    expect(metric('edge_gateway_journal_bytes')).toBeGreaterThan(0);
    expect(metric('edge_gateway_uplink_latency_seconds_count{historical="false"}')).toBe(0);
    expect(metrics).toMatch(/^edge_gateway_uplink_latency_seconds_bucket\{le="3600",historical="false"\} 0$/m);
    expect(metric('edge_gateway_ready')).toBe(1);
    // The bound in force, 80% of the room on the disk; the capacity in seconds (NaN only while nothing is captured).
    const { journal } = await g.status();
    expect(Math.abs(metric('edge_gateway_journal_max_bytes') - journal.maxBytes) / journal.maxBytes).toBeLessThan(0.01);
    expect(Math.abs(journal.maxBytes - journal.roomBytes * 0.8)).toBeLessThan(1);
    expect(metric('edge_gateway_journal_bytes_per_sample')).toBeGreaterThan(0);
    expect(metrics).toMatch(/^edge_gateway_journal_capacity_seconds (\S+)$/m);

    const history = JSON.parse((await get(g.url('/api/history'))).body);
    expect(history.intervalMs).toBe(10_000);
    expect(Array.isArray(history.points)).toBe(true);
  });

  it('edge-gateway status prints the devices with their tag values, the journal and the uplink', async () => {
    const r = runCli(['status', '--url', g.url('')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = await g.status();
    expect(r.stdout).toMatch(/^ready\s+yes/m);
    expect(r.stdout).toMatch(/^uplink\s+down/m);
    expect(r.stdout).toContain(`journal     ${s.journal.records} records`);
    expect(r.stdout).toMatch(/^capacity {4}(holds .+ at [\d,.]+ samples\/s|not known: .+); bound 80% of [\d.]+ [kMGT]?B room = [\d.]+ [kMGT]?B/m);
    expect(r.stdout).toMatch(/^ {2}press-07\s+up\s/m);
    expect(r.stdout).toMatch(/^ {4}level\s+1300\s+good/m);
    expect(r.stdout).toMatch(/^ {4}pump\s+true\s+good/m);
    expect(r.stdout).toMatch(/^ {2}dosing-pump-2\s+down\s/m);
  });
});

// A real condition: the disk under data_dir fills up (a small tmpfs). Needs root (mount), as CI runs.
describe('/readyz on a full disk', () => {
  it('answers 503 with the reason while the journal cannot be opened or cannot write, and 200 once space returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-gw-readyz-'));
    const data = join(dir, 'data');
    mkdirSync(data);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', data], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`this test mounts a 4 MiB tmpfs as the data_dir to fill a real disk; it needs root (run as root, or in CI): ${(err as Error).message}`);
    }
    cleanups.push(() => {
      execFileSync('umount', ['-l', data], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    });
    const filler = join(data, 'filler');
    const fillDisk = () => {
      try {
        writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
      } catch {
        /* ENOSPC: full to the brim, as wanted */
      }
    };

    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    let level = 0;
    const changing = setInterval(() => plc.setHolding(10, [++level & 0xffff]), 100);
    cleanups.push(() => clearInterval(changing));
    const g = await GatewayProcess.create({ dir, extraYaml: devicesYaml(plc.port, await freePort()) });
    cleanups.push(() => g.stop());

    // Full before start: the journal cannot even be opened; the probes already answer.
    fillDisk();
    await g.start({ until: 'http' });
    expect(await get(g.url('/healthz'))).toMatchObject({ status: 200, body: 'ok\n' });
    const starting = await waitFor('readyz to name the full disk', async () => {
      const r = await get(g.url('/readyz'));
      return r.status === 503 && /journal cannot be opened/.test(r.body) ? r : undefined;
    }, 15_000);
    expect(starting.type).toMatch(/^text\/plain/);
    expect(starting.body).toMatch(/^not ready: starting: the journal cannot be opened in .+: the disk is full .+; waiting for space$/m);
    const early = await get(g.statusUrl);
    expect(early.status).toBe(503);
    expect(JSON.parse(early.body)).toMatchObject({ starting: true, ready: { ready: false } });

    rmSync(filler);
    await waitFor('readyz to answer 200 once space returned', async () => (await get(g.url('/readyz'))).status === 200, 30_000);
    await waitFor('values to be captured', async () => (await g.status()).journal.records > 3, 15_000);

    // Full while running: capture waits in memory, and readiness says why.
    fillDisk();
    const failing = await waitFor('readyz to report the failing journal', async () => {
      const r = await get(g.url('/readyz'));
      return r.status === 503 ? r : undefined;
    }, 30_000);
    expect(failing.body).toMatch(/^not ready: the journal cannot write to .+; captured messages wait in memory$/m);
    expect(await get(g.url('/healthz'))).toMatchObject({ status: 200 });
    const s = await g.status();
    expect(s.ready.ready).toBe(false);
    expect(s.journal.writeError).toMatch(/cannot write/);

    rmSync(filler);
    await waitFor('readyz to answer 200 again', async () => (await get(g.url('/readyz'))).status === 200, 30_000);
    expect((await g.status()).journal.writeError).toBeNull();
    expect(await g.stop()).toBe(0);
  });
});
