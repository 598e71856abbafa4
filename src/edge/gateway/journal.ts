// The gateway's journal opened at start-up: in data_dir, bounded by buffer.max_bytes (a share of the disk measured
// now and again later), waiting for space on a full disk, and saying in the log and on the status page what it
// found: a corrupt file set aside, records lost to damage, writes that fail.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { resolveJournalBound, type ResolvedBound } from '../../uplink/journal/capacity.js';
import { applyBound, type BoundSource } from '../../uplink/journal/housekeeping.js';
import { openJournalWhenPossible, type OpenedJournal } from '../../uplink/journal/journal.js';
import type { GatewayConfig } from '../config/schema.js';
import { gapJournalEntry } from '../journal-record.js';

/** What the status page says while the gateway starts, and while the journal cannot write. */
export interface Life {
  phase: string | undefined;
  journalError: string | undefined;
}

export interface GatewayJournal extends OpenedJournal {
  /** buffer.max_bytes as the config in force says it (`current`), and where it is measured. */
  boundSource: BoundSource;
  /** What buffer.max_bytes came to when last measured. */
  bound(): ResolvedBound;
}

export async function openGatewayJournal(config: GatewayConfig, dataDir: string, current: () => GatewayConfig, life: Life, log: Logger, waiting?: (reason: string) => void): Promise<GatewayJournal> {
  const { group, node } = config.site;
  const journalFile = join(dataDir, 'journal.db');
  // buffer.max_bytes may be a share of the disk: measured now, at every prune, and at a reload that changes it.
  let bound: ResolvedBound = resolveJournalBound(config.buffer.max_bytes, dataDir, journalFile);
  const boundSource: BoundSource = { bound: () => current().buffer.max_bytes, dataDir, journalFile, resolved: (r) => (bound = r) };
  const opened = await openJournalWhenPossible(journalFile, {
    sync: config.buffer.sync,
    commitIntervalMs: config.buffer.commit_interval,
    maxBytes: bound.maxBytes,
    whenFull: config.buffer.when_full,
    onWriteError: (err, failing) => {
      life.journalError = failing ? `the journal cannot write to ${dataDir} (${err?.message ?? 'unknown error'}); captured messages wait in memory` : undefined;
      if (failing) log.error({ err: err?.message }, 'The journal cannot write (disk full?); messages wait in memory and capture resumes when it can.');
      else log.info('The journal writes again.');
    },
    onCorrupt: (why) => {
      // The next open sets the file aside (marked by the check) and continues above every seq it held.
      log.error({ err: why, dataDir }, 'The journal file is corrupt (SQLite\'s check of it failed); the gateway restarts to set it aside.');
      process.kill(process.pid, 'SIGTERM');
    },
    gapEntry: (gap) => {
      log.error({ ...gap }, `Journal dropped ${gap.count} records (edge.seq ${gap.from}..${gap.to}, ${gap.reason}); a gap record tells the cloud.`);
      return gapJournalEntry(group, node, gap);
    },
  }, (err) => {
    life.phase = `starting: the journal cannot be opened in ${dataDir}: the disk is full (${err.message}); waiting for space`;
    log.error({ err: err.message, dataDir }, 'The journal cannot be opened: the disk is full. Waiting for space; nothing else starts until then.');
    waiting?.('the journal waits for disk space');
  });
  const { journal, quarantined, damaged } = opened;
  if (quarantined) {
    log.error({ ...quarantined }, `The journal file was corrupt: moved to ${quarantined.movedTo}; a fresh journal continues above edge.seq ${quarantined.to}.`);
  }
  if (damaged) {
    log.error({ why: damaged.why, count: damaged.count, ranges: damaged.ranges.slice(0, 20) }, `The journal lost records to damage SQLite did not report (${damaged.why}); edge.seq continues above every seq it could have used, and a gap record names the ${damaged.count} that will not arrive.`);
  }
  // Measured again: opening may have waited long for space, and the journal's files now exist.
  applyBound(journal, boundSource, log);
  log.info({ dataDir, backlog: journal.stats().records, nextSeq: journal.stats().nextSeq, maxBytes: bound.maxBytes }, 'Journal open.');
  return { ...opened, boundSource, bound: () => bound };
}
