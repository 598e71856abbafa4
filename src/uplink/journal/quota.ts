// The journal's bound on its size, what it drops to keep it (the oldest records, or what arrives while it is
// full) and by age, and the gap records that announce every seq dropped: a loss reaches the cloud as a record
// of its own, never as silence. Announcements of the same kind merge, so a journal that keeps dropping holds one.
import type Database from 'better-sqlite3';
import type { RecordType } from './compact.js';
import { ROW_BYTES } from './schema.js';

export type DropReason = 'max_bytes' | 'max_age' | 'corrupt_journal' | 'journal_damaged';

/** What a gap record announces: `ranges` exactly, `from`..`to` spanning them, `count` seqs in all. */
export interface Gap {
  from: number;
  to: number;
  count: number;
  reason: DropReason;
  ranges: Array<[number, number]>;
}

/** Seqs dropped together: from..to, `count` of them (the gap records among them are kept). */
export interface DroppedRun {
  from: number;
  to: number;
  count: number;
}

/** Sorted, with adjacent and overlapping ranges joined. */
export function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The bound in force, what was dropped so far, and which records to drop next; the journal does the deleting. */
export class Quota {
  /** The bound on the records' bytes (key + value); unbounded when undefined. */
  maxBytes: number | undefined;
  readonly dropped: Record<DropReason, number> = { max_bytes: 0, max_age: 0, corrupt_journal: 0, journal_damaged: 0 };
  /** drop_newest: the seqs refused since the journal was last below its bound, announced once there is room. */
  private pendingGap: DroppedRun | undefined;
  private readonly stmt: {
    head: Database.Statement;
    gaps: Database.Statement;
    setMeta: Database.Statement;
    clearPending: Database.Statement;
  };

  constructor(
    db: Database.Database,
    private readonly options: { maxBytes?: number; whenFull?: 'drop_oldest' | 'drop_newest' },
    /** The meta table as open read it: a refused range not yet announced when the gateway stopped. */
    meta: Record<string, number>,
  ) {
    this.maxBytes = options.maxBytes;
    this.stmt = {
      head: db.prepare(`SELECT seq, captured_at, type, ${ROW_BYTES} AS b FROM records WHERE seq > ? ORDER BY seq LIMIT 500`),
      gaps: db.prepare('SELECT seq, value FROM records WHERE type = 3 ORDER BY seq'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      clearPending: db.prepare("DELETE FROM meta WHERE key LIKE 'gap_%'"),
    };
    if (meta.gap_count) this.pendingGap = { from: meta.gap_from!, to: meta.gap_to!, count: meta.gap_count };
  }

  /** drop_newest: whether a batch that would bring the journal to `bytes` is refused. Gap records never are. */
  refuses(bytes: number, entries: readonly { type: RecordType }[]): boolean {
    const { maxBytes } = this;
    // Gap records are never refused: they are small, and a loss they announce must not become a silent one.
    if (maxBytes !== undefined && this.options.whenFull === 'drop_newest' && !entries.every((e) => e.type === 'gap')) {
      if (bytes > maxBytes) return true;
    }
    return false;
  }

  /** drop_oldest: whether a journal holding `bytes` is over its bound and drops from its head. */
  over(bytes: number): boolean {
    const { maxBytes } = this;
    return maxBytes !== undefined && bytes > maxBytes && this.options.whenFull !== 'drop_newest';
  }

  /** drop_newest: the refused range with first..last (`count` seqs) added; write it with savePending. */
  widened(first: number, last: number, count: number): DroppedRun {
    return this.pendingGap ? { ...this.pendingGap, to: last, count: this.pendingGap.count + count } : { from: first, to: last, count };
  }

  /** Keeps the refused range in the meta table, for a restart before it is announced; inside the transaction. */
  savePending(gap: DroppedRun): void {
    this.stmt.setMeta.run('gap_from', gap.from);
    this.stmt.setMeta.run('gap_to', gap.to);
    this.stmt.setMeta.run('gap_count', gap.count);
  }

  /** The refusal of `count` seqs was written: `gap` is the range refused so far. */
  refused(gap: DroppedRun, count: number): void {
    this.pendingGap = gap;
    this.dropped.max_bytes += count;
  }

  /** drop_newest: once the journal (at `bytes`) is below 90% of its bound again, the refused range to announce. */
  due(bytes: number): DroppedRun | undefined {
    const gap = this.pendingGap;
    const { maxBytes } = this;
    if (!gap || maxBytes === undefined || bytes > maxBytes * 0.9) return undefined;
    this.pendingGap = undefined;
    this.stmt.clearPending.run();
    return gap;
  }

  /** drop_oldest: the records to drop from the head of a journal holding `bytes`, down to 90% of `maxBytes`. */
  oldest(bytes: number, maxBytes: number): DroppedRun | undefined {
    const target = maxBytes * 0.9;
    let freed = 0;
    let count = 0;
    let from: number | undefined;
    let to = 0;
    let cursor = 0;
    while (bytes - freed > target) {
      const rows = this.stmt.head.all(cursor) as Array<{ seq: number; type: RecordType; b: number }>;
      if (rows.length === 0) break;
      for (const r of rows) {
        if (bytes - freed <= target) break;
        cursor = r.seq;
        if (r.type === 'gap') continue; // announcements are kept: dropping one would make its loss silent
        from ??= r.seq;
        to = r.seq;
        freed += r.b;
        count += 1;
      }
    }
    return from === undefined ? undefined : { from, to, count };
  }

  /** The records captured before `cutoff` (ms), from the head. */
  olderThan(cutoff: number): DroppedRun | undefined {
    let count = 0;
    let from: number | undefined;
    let to = 0;
    let cursor = 0;
    for (;;) {
      const rows = this.stmt.head.all(cursor) as Array<{ seq: number; type: RecordType; captured_at: number }>;
      const old = rows.filter((r) => r.captured_at < cutoff);
      for (const r of old) {
        cursor = r.seq;
        if (r.type === 'gap') continue; // announcements are kept
        from ??= r.seq;
        to = r.seq;
        count += 1;
      }
      if (old.length < rows.length || rows.length === 0) break;
    }
    return from === undefined ? undefined : { from, to, count };
  }

  /**
   * The announcement of `lost`: announcements still waiting in the journal for the same reason merge into it,
   * so that a journal that keeps dropping holds one announcement, not one per drop. The old record's own seq
   * joins the ranges (it will not arrive either), and `remove` deletes it.
   */
  merged(lost: Array<[number, number]>, reason: DropReason, remove: (seq: number) => void): Gap {
    let ranges: Array<[number, number]> = [...lost];
    for (const row of this.stmt.gaps.all() as Array<{ seq: number; value: string }>) {
      let old: Partial<Gap>;
      try {
        old = JSON.parse(row.value) as Partial<Gap>;
      } catch {
        continue; // an announcement damaged in place: the checksum sets it aside when it is read
      }
      if (old.reason !== reason || !Array.isArray(old.ranges)) continue;
      ranges.push(...old.ranges, [row.seq, row.seq]);
      remove(row.seq);
    }
    ranges = mergeRanges(ranges);
    const count = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
    return { from: ranges[0]![0], to: ranges[ranges.length - 1]![1], count, reason, ranges };
  }
}
