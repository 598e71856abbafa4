// A real full disk: a 6 MiB tmpfs under the journal. Capture waits in memory, nothing is lost, and it resumes by
// itself when space returns. Needs root (mount); CI and the development machines run as root.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal, openJournalWhenPossible, type JournalEntry } from './journal.js';

const dir = mkdtempSync(join(tmpdir(), 'disk-full-'));
beforeAll(() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test mounts a 6 MiB tmpfs to fill a real disk; it needs root (run as root, or in CI): ${(err as Error).message}`);
  }
});
afterAll(() => {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  } catch {
    /* not mounted */
  }
  rmSync(dir, { recursive: true, force: true });
});

const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"pad":"${'z'.repeat(2000)}"}`, capturedAt: Date.now() });

describe('journal on a full disk', () => {
  it('keeps capture waiting in memory while the disk is full, loses nothing, and resumes when space returns', async () => {
    const filler = join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(1024 * 1024));
    const spare = join(dir, 'spare'); // freed in the second part
    writeFileSync(spare, Buffer.alloc(3 * 1024 * 1024));
    const events: boolean[] = [];
    const j = new Journal(join(dir, 'journal.db'), { onWriteError: (_e, failing) => events.push(failing) });
    let committed = 0;
    let enqueued = 0;
    for (let round = 0; round < 400 && j.stats().writeErrors === 0; round++) {
      for (let k = 0; k < 20; k++) j.enqueue(entry(enqueued++), () => committed++);
      await new Promise((r) => setImmediate(r));
    }
    expect(j.stats().writeErrors).toBeGreaterThan(0); // the disk really filled up
    expect(events).toEqual([true]);
    // More arrives while the disk is full: it waits in memory.
    for (let k = 0; k < 50; k++) j.enqueue(entry(enqueued++), () => committed++);
    expect(j.stats().queued).toBeGreaterThan(0);

    rmSync(filler); // space returns
    const deadline = Date.now() + 10_000;
    while (j.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(j.stats().queued).toBe(0);
    expect(events).toEqual([true, false]);
    expect(committed).toBe(enqueued);
    expect(j.stats().records).toBe(enqueued);
    expect(j.peek(0, enqueued).map((r) => r.seq)).toEqual(Array.from({ length: enqueued }, (_, i) => i + 1));
    j.close(); // on a nearly full disk too: the WAL keeps what the refused checkpoint could not fold back

    // Start-up on a full disk waits for space instead of failing (no crash loop under systemd).
    const blocker = join(dir, 'blocker');
    try {
      writeFileSync(blocker, Buffer.alloc(4 * 1024 * 1024)); // more than is left: fills the disk to the brim
    } catch {
      /* ENOSPC: the disk is full, as wanted */
    }
    let waited: Error | undefined;
    const opening = openJournalWhenPossible(join(dir, 'journal.db'), {}, (err) => (waited = err), 100);
    await new Promise((r) => setTimeout(r, 500));
    expect(waited).toBeDefined();
    rmSync(blocker);
    rmSync(spare); // space returns
    const { journal } = await opening;
    expect(journal.stats().records).toBe(enqueued);
    journal.close();
  });
});
