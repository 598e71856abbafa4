// The journal's capacity in hours: what a plant engineer asks before an outage, not after.
import { existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Journal bytes one sample takes, for a plan not yet running (`validate`): the compact record format's cost of a
 * sample in a record of `metricsPerRecord` metrics, row overhead included.
 */
export function estimatedBytesPerSample(metricsPerRecord: number): number {
  const perRecord = 30; // source, time delta, metric count, and the row's columns and SQLite overhead
  const perSample = 6; // metric number, header byte, a 4-byte float (a small integer takes less)
  return perSample + perRecord / Math.max(1, metricsPerRecord);
}

/** Hours of capture that `maxBytes` holds at `samplesPerSec`; null when nothing is captured. */
export function capacityHours(maxBytes: number, bytesPerSample: number, samplesPerSec: number): number | null {
  if (!(samplesPerSec > 0) || !(bytesPerSample > 0)) return null;
  return maxBytes / bytesPerSample / samplesPerSec / 3600;
}

/** `buffer.max_bytes`: a number of bytes, or a share (in percent) of the room the journal could have on its disk. */
export type JournalBound = number | { percent: number };

export interface ResolvedBound {
  maxBytes: number;
  /** What a share is a share of: the space free to this process plus the journal files' own size; null for bytes. */
  room: number | null;
  /** The directory whose file system was measured (the data directory, or its nearest existing parent). */
  measuredAt: string | null;
}

/** The journal file with its WAL and shared-memory files, as they are now; 0 for a journal not created yet. */
export function journalFilesBytes(journalFile: string): number {
  let total = 0;
  for (const file of [journalFile, `${journalFile}-wal`, `${journalFile}-shm`]) {
    try {
      total += statSync(file).size;
    } catch {
      // Not there (yet): a new data directory, or a WAL checkpointed away.
    }
  }
  return total;
}

/** A data directory that does not exist yet will be made on the file system of its nearest existing parent. */
function nearestExisting(dir: string): string {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

/**
 * The bound in bytes now. A share counts the journal's own files as room it may use, so that the bound stays put
 * while the journal grows into free space, and shrinks only when something else fills the disk.
 */
export function resolveJournalBound(bound: JournalBound, dataDir: string, journalFile: string): ResolvedBound {
  if (typeof bound === 'number') return { maxBytes: bound, room: null, measuredAt: null };
  const measuredAt = nearestExisting(dataDir);
  const fs = statfsSync(measuredAt);
  const room = fs.bavail * fs.bsize + journalFilesBytes(journalFile);
  return { maxBytes: Math.max(1, Math.floor((room * bound.percent) / 100)), room, measuredAt };
}
