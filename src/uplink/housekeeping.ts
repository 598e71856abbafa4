// The journal's housekeeping on a schedule (node-cron): age pruning, WAL checkpoints, incremental vacuum.
// Each job logs what it freed and runs in small steps, so capture never waits long behind it.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Journal } from './journal.js';

export interface HousekeepingSchedule {
  /** Cron expressions (minute hour day month weekday, optional seconds first). */
  prune: string;
  checkpoint: string;
  vacuum: string;
}

export const DEFAULT_SCHEDULE: HousekeepingSchedule = { prune: '* * * * *', checkpoint: '*/5 * * * *', vacuum: '30 3 * * *' };

export function startHousekeeping(journal: Journal, schedule: HousekeepingSchedule, maxAgeMs: number, log: Logger): () => void {
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
