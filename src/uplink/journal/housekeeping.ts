// The journal's housekeeping on a schedule (node-cron): age pruning, WAL checkpoints, incremental vacuum.
// Each job logs what it freed and runs in small steps, so capture never waits long behind it.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Journal } from './journal.js';
import { resolveJournalBound, type JournalBound, type ResolvedBound } from './capacity.js';

export interface HousekeepingSchedule {
  /** Cron expressions (minute hour day month weekday, optional seconds first). */
  prune: string;
  checkpoint: string;
  vacuum: string;
}

export const DEFAULT_SCHEDULE: HousekeepingSchedule = { prune: '* * * * *', checkpoint: '*/5 * * * *', vacuum: '30 3 * * *' };

/** Where a share of the disk (buffer.max_bytes: 80%) is measured, and the setting in force (a reload may change it). */
export interface BoundSource {
  bound(): JournalBound;
  dataDir: string;
  journalFile: string;
  /** Told every bound measured, so that the status shows what it came from. */
  resolved?(bound: ResolvedBound): void;
}

export function startHousekeeping(journal: Journal, schedule: HousekeepingSchedule, maxAgeMs: number, log: Logger, bound?: BoundSource): () => void {
  // A job that fails (a full disk refuses a checkpoint) is tried again at its next time. It is logged when it
  // starts failing and when it works again, not at every failed run.
  const failing = new Set<string>();
  const guarded = (name: string, job: () => unknown) => async () => {
    try {
      await job();
      if (failing.delete(name)) log.info({ job: name }, `Housekeeping job ${name} works again.`);
    } catch (err) {
      if (failing.has(name)) return;
      failing.add(name);
      log.warn({ job: name, err: (err as Error).message }, `Housekeeping job ${name} failed; it runs again on schedule.`);
    }
  };
  const tasks: ScheduledTask[] = [
    cron.schedule(schedule.prune, guarded('prune', () => prune(journal, maxAgeMs, log)), { name: 'journal-prune', noOverlap: true }),
    // A share of the disk follows the disk: what else fills it (logs, other programs) leaves less for the journal.
    ...(bound ? [cron.schedule(schedule.prune, guarded('bound', () => applyBound(journal, bound, log)), { name: 'journal-bound', noOverlap: true })] : []),
    cron.schedule(schedule.checkpoint, guarded('checkpoint', () => checkpoint(journal, log)), { name: 'journal-checkpoint', noOverlap: true }),
    cron.schedule(schedule.vacuum, guarded('vacuum', () => vacuum(journal, log)), { name: 'journal-vacuum', noOverlap: true }),
  ];
  return () => {
    for (const t of tasks) void t.destroy();
  };
}

export function prune(journal: Journal, maxAgeMs: number, log: Logger): number {
  const dropped = journal.pruneOlderThan(Date.now() - maxAgeMs);
  if (dropped > 0) log.error({ dropped, maxAgeMs }, `Housekeeping dropped ${dropped} records older than buffer.max_age; a gap record tells the cloud.`);
  return dropped;
}

/** Measures the bound now and hands it to the journal; logged when it moved by more than 1%. */
export function applyBound(journal: Journal, source: BoundSource, log: Logger): ResolvedBound {
  const setting = source.bound();
  const resolved = resolveJournalBound(setting, source.dataDir, source.journalFile);
  const { maxBytes: before, bytes } = journal.stats();
  journal.setMaxBytes(resolved.maxBytes);
  source.resolved?.(resolved);
  if (before !== null && Math.abs(resolved.maxBytes - before) <= before * 0.01) return resolved;
  const fields = { maxBytes: resolved.maxBytes, before, room: resolved.room, measuredAt: resolved.measuredAt, bytes };
  const what = typeof setting === 'number' ? `${resolved.maxBytes} bytes` : `${resolved.maxBytes} bytes, ${setting.percent}% of the ${resolved.room} bytes the journal could have on ${resolved.measuredAt}`;
  if (resolved.maxBytes < bytes) log.warn(fields, `The journal's bound is now ${what}, less than the ${bytes} bytes it holds: records are dropped as buffer.when_full says, each drop announced by a gap record.`);
  else log.info(fields, `The journal's bound is now ${what}.`);
  return resolved;
}

export function checkpoint(journal: Journal, log: Logger): number {
  const started = Date.now();
  const pages = journal.checkpoint();
  log.info({ pages, bytes: pages * journal.pageSize(), ms: Date.now() - started }, 'Housekeeping: WAL checkpoint.');
  return pages;
}

/** Frees pages 256 at a time, yielding between steps. */
export async function vacuum(journal: Journal, log: Logger): Promise<number> {
  const started = Date.now();
  let freed = 0;
  for (;;) {
    const step = journal.vacuumStep(256);
    freed += step;
    if (step === 0) break;
    await new Promise((r) => setImmediate(r));
  }
  log.info({ pages: freed, bytes: freed * journal.pageSize(), ms: Date.now() - started }, 'Housekeeping: incremental vacuum.');
  return freed;
}
