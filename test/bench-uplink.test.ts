// `npm run bench` is not part of the suite; this keeps its uplink part working as the forwarder and the Kafka
// clients change: a tiny backlog, a real broker, both clients and the bare librdkafka ceiling (kcat where it is
// installed), valid JSON. No figure is judged here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

describe('the uplink benchmark', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-uplink-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('drains a backlog through both clients beside the bare producer, measuring wire bytes and RSS, and writes JSON', { timeout: 240_000 }, () => {
    const out = join(dir, 'uplink.json');
    const r = spawnSync(process.execPath, ['scripts/bench-uplink.mjs'], { cwd: ROOT, env: { ...process.env, BENCH_ROUNDS: '1', BENCH_UPLINK_RECORDS: '5000', BENCH_UPLINK_OUT: out, BENCH_DIR: dir }, encoding: 'utf8', timeout: 220_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('gateway, client librdkafka');
    const results = JSON.parse(readFileSync(out, 'utf8'));
    expect(results.records).toBe(5000);
    for (const client of ['librdkafka', 'kafkajs']) {
      const run = results[client].rounds[0];
      expect(run.recordsPerSec, client).toBeGreaterThan(0);
      // Every sample forwarded was counted, and the client said what it sent.
      expect(run.wireBytesPerSample, client).toBeGreaterThan(0);
      expect(run.rssPeakMiB, client).toBeGreaterThan(0);
    }
    expect(results.librdkafka.compression).toBe('zstd');
    expect(results.bareLibrdkafka.rounds[0].recordsPerSec).toBeGreaterThan(0);
  });
});
