// buffer.max_bytes as a share of a real disk (a tmpfs of known size under data_dir, so that nothing else writes to
// it), and the capacity figures of a running gateway in /api/status, /metrics and `edge-gateway status`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { capacityText } from '../src/edge/capacity-text.js';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const MiB = 1024 * 1024;

/** What a share is a share of, measured from outside the gateway: free space plus the journal's own files. */
function room(data: string): number {
  const fs = statfsSync(data);
  let journal = 0;
  for (const f of ['journal.db', 'journal.db-wal', 'journal.db-shm']) {
    try {
      journal += statSync(join(data, f)).size;
    } catch {
      // not there
    }
  }
  return fs.bavail * fs.bsize + journal;
}

const gatewayYaml = (plcPort: number, maxBytes: string) => `devices:
  - name: press-07
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    poll: 100ms
    timeout: 1s
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
      - { name: speed, table: holding, address: 11, type: uint16 }
buffer:
  max_bytes: ${maxBytes}
  # The bound is measured again with every prune: every second here, every minute by default.
  housekeeping: { prune: '* * * * * *' }
`;

describe('the journal bound and its capacity on a running gateway', () => {
  let g: GatewayProcess;
  let data: string;
  let plcPort: number;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-gw-capacity-'));
    data = join(dir, 'data');
    mkdirSync(data);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', data], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`this test mounts a 64 MiB tmpfs as the data_dir, a disk nothing else writes to; it needs root (run as root, or in CI): ${(err as Error).message}`);
    }
    cleanups.push(() => {
      execFileSync('umount', ['-l', data], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    });
    const plc = await startSimulatedPlc({ port: await freePort() });
    plcPort = plc.port;
    cleanups.push(() => plc.close());
    // Both tags change faster than the poll: every poll captures two samples, 20 samples/s.
    let n = 0;
    const changing = setInterval(() => plc.setHolding(10, [++n & 0xffff, (n * 7) & 0xffff]), 40);
    cleanups.push(() => clearInterval(changing));
    g = await GatewayProcess.create({ dir, extraYaml: gatewayYaml(plcPort, '50%') });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('samples to be captured', async () => (await g.status()).journal.samplesPerSec > 0, 20_000);
  });

  it('bounds the journal by a share of data_dir\'s disk, follows the disk on the prune schedule, and takes a new share on reload', async () => {
    const before = (await g.status()).journal;
    expect(before.maxBytesPercent).toBe(50);
    // Only this gateway writes to the tmpfs, and its journal's growth is room of its own: the figures agree closely.
    expect(Math.abs(before.roomBytes - room(data))).toBeLessThan(MiB);
    expect(before.roomBytes).toBeGreaterThan(60 * MiB);
    expect(before.maxBytes).toBe(Math.floor(before.roomBytes * 0.5));

    // Something else takes 16 MiB of the disk: within seconds, the bound is half of what is left.
    writeFileSync(join(data, 'other-program.log'), Buffer.alloc(16 * MiB, 1));
    const shrunk = await waitFor('the bound to follow the disk', async () => {
      const j = (await g.status()).journal;
      return before.roomBytes - j.roomBytes > 15 * MiB ? j : undefined;
    }, 15_000);
    expect(Math.abs(shrunk.roomBytes - room(data))).toBeLessThan(MiB);
    expect(shrunk.maxBytes).toBe(Math.floor(shrunk.roomBytes * 0.5));
    expect(Math.abs(before.maxBytes - shrunk.maxBytes - 8 * MiB)).toBeLessThan(MiB);
    expect(g.logLines().some((l) => l.level === 30 && /^The journal's bound is now \d+ bytes, 50% of the \d+ bytes the journal could have on /.test(l.msg))).toBe(true);

    // A new share applies at once, without a restart.
    writeFileSync(g.configFile, readFileSync(g.configFile, 'utf8').replace('max_bytes: 50%', 'max_bytes: 12.5%'));
    g.child!.kill('SIGHUP');
    const reloaded = await waitFor('the reload to apply the new share', () => g.logLines().find((l) => l.msg === 'Reloaded the config.'), 15_000);
    expect(reloaded).toMatchObject({ journalBound: true, restartNeeded: [] });
    const after = (await g.status()).journal;
    expect(after.maxBytesPercent).toBe(12.5);
    expect(Math.abs(after.maxBytes - Math.floor(room(data) * 0.125))).toBeLessThan(MiB / 4);
    expect(g.logs()).not.toMatch(/buffer\.max_bytes.*next restart/);
  });

  it('shows the capacity at the capture rate of the last minute, alike in /api/status, /metrics and edge-gateway status', async () => {
    // The rate the gateway reports against the samples it counted, over a few seconds of steady capture.
    const metrics = async () => {
      const text = await (await fetch(g.url('/metrics'))).text();
      return (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    const t0 = Date.now();
    const m0 = (await metrics())('edge_gateway_samples_captured_total');
    await sleep(5000);
    const m = await metrics();
    const measured = (m('edge_gateway_samples_captured_total') - m0) / ((Date.now() - t0) / 1000);
    const s = await g.status();
    const j = s.journal;
    expect(measured).toBeGreaterThan(5);
    expect(Math.abs(j.samplesPerSec - measured) / measured).toBeLessThan(0.35);
    expect(j.bytesPerSample).toBeGreaterThan(1);
    expect(j.bytesPerSample).toBeLessThan(200);
    expect(j.capacityHours).toBeCloseTo(j.maxBytes / j.bytesPerSample / j.samplesPerSec / 3600, 10);
    expect(j.capacity).toBe(capacityText(j.capacityHours, j.samplesPerSec));
    expect(j.capacity).toMatch(/^holds [\d,.]+ (h|min)( \([\d,]+ (days|years)\))? at [\d,.]+ samples\/s$/);

    // Base units: seconds and bytes. The scrape came a moment before the status: the same within the rate's drift.
    expect(m('edge_gateway_journal_max_bytes')).toBe(j.maxBytes);
    expect(Math.abs(m('edge_gateway_journal_bytes_per_sample') - j.bytesPerSample) / j.bytesPerSample).toBeLessThan(0.05);
    expect(Math.abs(m('edge_gateway_journal_capacity_seconds') - j.capacityHours * 3600) / (j.capacityHours * 3600)).toBeLessThan(0.35);

    const r = runCli(['status', '--url', g.url('')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('capacity '));
    expect(line).toMatch(/^capacity {4}holds [\d,.]+ (h|min)( \([\d,]+ (days|years)\))? at [\d,.]+ samples\/s; bound 12\.5% of [\d.]+ MB room = [\d.]+ MB, [\d.]+ bytes per sample$/);
  });
});
