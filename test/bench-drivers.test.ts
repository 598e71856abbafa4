// `npm run bench` is not part of the suite; this keeps its drivers part working as the driver, the Poller and the
// journal change: tiny sizes, real sockets, a real journal file, valid JSON. No figure is judged here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

describe('the drivers benchmark', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-drivers-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('polls, decodes and journals every tag, and writes its results as JSON', () => {
    const out = join(dir, 'drivers.json');
    const sizes = { BENCH_ROUNDS: '1', BENCH_DRIVER_TAGS: '300', BENCH_DRIVER_POLLS: '3', BENCH_FLEET_DEVICES: '3', BENCH_FLEET_TAGS: '20', BENCH_FLEET_CYCLES: '2', BENCH_FLEET_PERIOD_MS: '50' };
    const r = spawnSync(process.execPath, ['scripts/bench-drivers.mjs'], { cwd: ROOT, env: { ...process.env, ...sizes, BENCH_DRIVERS_OUT: out }, encoding: 'utf8', timeout: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('300 tags, decoded+journaled');
    const results = JSON.parse(readFileSync(out, 'utf8'));
    const big = results.bigDevice;
    expect(big.tags).toBe(300);
    expect(big.types).toEqual({ uint16: 60, int32: 60, float32: 60, float64: 60, bool: 60 });
    // A birth of all 300, then 10 % changed per poll: 30 + 30.
    expect(big.rounds[0].metricsJournaled).toBe(360);
    expect(big.requestsPerPoll).toBe(big.requestsByTable.holding + big.requestsByTable.input + big.requestsByTable.coil);
    expect(big.tagsPerSecond).toBeGreaterThan(0);
    const fleet = results.fleet;
    expect(fleet.devices).toBe(3);
    expect(fleet.errors).toBe(0);
    expect(fleet.together.cycleMs.median).toBeGreaterThan(0);
    expect(fleet.freeRunning.periodMs.median).toBeGreaterThan(0);
  });
});
