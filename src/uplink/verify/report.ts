// The cloud side's completeness check of what gateways sent, without Kafka: fed one record at a time, it tells per
// edge.node which edge.seq never arrived, which of those a gap record announced as dropped, and what came twice.

/** One record as the check sees it: the `edge.node`, `edge.seq` and `edge.historical` headers, the value. */
export interface TrackedRecord {
  /** `edge.node` header; empty when the header is absent (the record then counts as foreign). */
  node: string;
  /** `edge.seq` header as a number; NaN (or anything but a positive safe integer) makes the record foreign. */
  seq: number;
  historical: boolean;
  /** The JSON value; read only for gap records and historical records. */
  value?: string;
  /** When the record reached Kafka (its record timestamp) or the checker, in ms; defaults to now. */
  receivedAt?: number;
}

export type GapStatus = 'announced' | 'missing';

export interface GapRange {
  from: number;
  to: number;
  count: number;
  status: GapStatus;
  /** The announcing gap records' reasons, for announced ranges. */
  reason?: string;
}

export interface NodeReport {
  node: string;
  /** Records received, duplicates included. */
  records: number;
  /** Distinct edge.seq values received. */
  distinct: number;
  /** Extra copies of an edge.seq already received (records - distinct). */
  duplicates: number;
  lowest: number;
  highest: number;
  /** Where the expected sequence starts: 1 when reading from the beginning, else the lowest seq seen. */
  expectedFrom: number;
  /** Holes between expectedFrom and highest, in order; at most `maxRanges`, see gapsOmitted. */
  gaps: GapRange[];
  /** Hole ranges not listed in `gaps` because of the limit. */
  gapsOmitted: number;
  /** Seqs neither received nor announced by a gap record. */
  missing: number;
  missingRanges: number;
  /** Seqs not received but announced by a gap record as dropped at the gateway. */
  announced: number;
  announcedRanges: number;
  /** Gap records received (their own seqs count as records). */
  gapRecords: number;
  historical: number;
  /** Largest (receivedAt - value.timestamp) of the historical records, ms; null when none. */
  maxHistoricalDelayMs: number | null;
  /** Gap or historical records whose value could not be read (bad JSON, no timestamp, bad from/to). */
  malformed: number;
}

/** What verify.ts (the Kafka side) adds about the run itself. */
export interface VerifyRun {
  brokers: string[];
  topic: string;
  partitions: number;
  /**
   * 'end': every partition was read up to the end offset it had at start (the default with --from-beginning);
   * 'idle': following, no record for idleMs after those end offsets were reached; 'timeout': --timeout-ms.
   */
  stoppedBy: 'end' | 'idle' | 'timeout';
  /** Read on after the start-time end offsets (--follow, or new records only). */
  follow: boolean;
  /** Records between each partition's first offset and its end offset at start: what a run to the end reads. */
  atStart: number | null;
  /**
   * Records read past a partition's start-time end offset that fill a hole below the highest edge.seq read: a
   * batch that reached one partition before the start and another just after it. Counted in `records`.
   */
  filledFromBeyond: number;
  /** False when the timeout came before the end offsets that existed at start were read: the check is partial. */
  endReached: boolean;
  idleMs: number;
  elapsedMs: number;
}

export interface VerifyReport {
  fromBeginning: boolean;
  /** Every record seen, foreign ones included. */
  records: number;
  /** Records without usable edge.node / edge.seq headers; ignored otherwise. */
  foreign: number;
  nodes: NodeReport[];
  totals: { missing: number; announced: number; duplicates: number; historical: number };
  run?: VerifyRun;
}

export interface TrackerOptions {
  /** Expect every node's seqs from 1 (default true); false: from the lowest seq seen. */
  fromBeginning?: boolean;
  /** Hole ranges listed per node in the report (counts stay exact). Default 1000. */
  maxRanges?: number;
}

/** `edge.seq` header text → number; NaN unless a plain positive decimal integer. */
export function parseSeq(text: string | undefined | null): number {
  if (!text || !/^[1-9][0-9]{0,15}$/.test(text)) return Number.NaN;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Number.NaN;
}

// ---------------------------------------------------------------------------------------------
// A set of positive integers as bitmap chunks of 65,536 seqs (8 KiB each), created on demand: one bit per seq
// where seqs are dense, whatever order they arrive in (a node's records are spread over partitions).

const CHUNK = 65_536;
const WORDS = CHUNK / 32;
const FULL = 0xffffffff;

export class SeqSet {
  private readonly chunks = new Map<number, Uint32Array>();
  private lastIndex = -1;
  private lastChunk: Uint32Array | undefined;
  size = 0;

  /** Adds `seq`; false when it was already there. */
  add(seq: number): boolean {
    const index = Math.floor(seq / CHUNK);
    let chunk = index === this.lastIndex ? this.lastChunk : this.chunks.get(index);
    if (!chunk) {
      chunk = new Uint32Array(WORDS);
      this.chunks.set(index, chunk);
    }
    this.lastIndex = index;
    this.lastChunk = chunk;
    const offset = seq - index * CHUNK;
    const word = offset >>> 5;
    const bit = 1 << (offset & 31);
    if (chunk[word]! & bit) return false;
    chunk[word] = chunk[word]! | bit;
    this.size += 1;
    return true;
  }

  has(seq: number): boolean {
    const index = Math.floor(seq / CHUNK);
    const chunk = this.chunks.get(index);
    if (!chunk) return false;
    const offset = seq - index * CHUNK;
    return (chunk[offset >>> 5]! & (1 << (offset & 31))) !== 0;
  }

  /** Calls `hole(a, b)` for every maximal range a..b within from..to with no seq in the set, in ascending order. */
  holes(from: number, to: number, hole: (a: number, b: number) => void): void {
    if (from > to) return;
    const first = Math.floor(from / CHUNK);
    const last = Math.floor(to / CHUNK);
    const indexes = [...this.chunks.keys()].filter((i) => i >= first && i <= last).sort((a, b) => a - b);
    let open: number | null = null; // start of the hole being walked
    let pos = from;
    for (const index of indexes) {
      const start = index * CHUNK;
      const end = Math.min(to, start + CHUNK - 1);
      if (pos < start) {
        open ??= pos;
        pos = start;
      }
      const chunk = this.chunks.get(index)!;
      while (pos <= end) {
        const offset = pos - start;
        const word = chunk[offset >>> 5]!;
        if ((offset & 31) === 0 && pos + 31 <= end && (word === 0 || word === FULL)) {
          if (word === 0) open ??= pos;
          else if (open !== null) {
            hole(open, pos - 1);
            open = null;
          }
          pos += 32;
          continue;
        }
        if ((word >>> (offset & 31)) & 1) {
          if (open !== null) {
            hole(open, pos - 1);
            open = null;
          }
        } else {
          open ??= pos;
        }
        pos += 1;
      }
    }
    if (pos <= to) open ??= pos;
    if (open !== null) hole(open, to);
  }
}

// ---------------------------------------------------------------------------------------------

interface Announcement {
  from: number;
  to: number;
  reasons: string[];
}

class NodeState {
  readonly seqs = new SeqSet();
  records = 0;
  lowest = Number.POSITIVE_INFINITY;
  highest = 0;
  historical = 0;
  maxDelay: number | null = null;
  gapRecords = 0;
  malformed = 0;
  readonly announcements: Announcement[] = [];
}

export class CompletenessTracker {
  private readonly nodes = new Map<string, NodeState>();
  private readonly fromBeginning: boolean;
  private readonly maxRanges: number;
  private records = 0;
  private foreign = 0;

  constructor(options: TrackerOptions = {}) {
    this.fromBeginning = options.fromBeginning ?? true;
    this.maxRanges = options.maxRanges ?? 1000;
  }

  /** Records added so far. */
  get seen(): number {
    return this.records;
  }

  /** Whether `seq` of `node` is absent yet below the highest seq seen: a record that would fill a hole. */
  fillsHole(node: string, seq: number): boolean {
    const state = this.nodes.get(node);
    return state !== undefined && Number.isSafeInteger(seq) && seq >= 1 && seq <= state.highest && !state.seqs.has(seq);
  }

  add(record: TrackedRecord): void {
    this.records += 1;
    const { node, seq } = record;
    if (!node || !Number.isSafeInteger(seq) || seq < 1) {
      this.foreign += 1;
      return;
    }
    let state = this.nodes.get(node);
    if (!state) {
      state = new NodeState();
      this.nodes.set(node, state);
    }
    state.records += 1;
    state.seqs.add(seq);
    if (seq < state.lowest) state.lowest = seq;
    if (seq > state.highest) state.highest = seq;
    if (record.historical) state.historical += 1;

    const value = record.value;
    // Most records are live data: their value is read only when it may be a gap record or carries a delay.
    const maybeGap = value !== undefined && value.includes('"gap"');
    if (!record.historical && !maybeGap) return;
    let parsed: Record<string, unknown> | undefined;
    try {
      const v: unknown = value === undefined ? undefined : JSON.parse(value);
      if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
    if (maybeGap && parsed?.type === 'gap') {
      state.gapRecords += 1;
      const reasons = [typeof parsed.reason === 'string' ? parsed.reason : 'unknown'];
      // `ranges` lists exactly what was dropped when it is not one run; from..to then only spans it.
      const ranges: unknown[] = Array.isArray(parsed.ranges) ? parsed.ranges : [[parsed.from, parsed.to]];
      const valid = (r: unknown): r is [number, number] =>
        Array.isArray(r) && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 1 && r[0] <= r[1];
      if (ranges.length > 0 && ranges.every(valid)) {
        for (const [from, to] of ranges as Array<[number, number]>) state.announcements.push({ from, to, reasons });
      } else {
        state.malformed += 1;
      }
    }
    if (record.historical) {
      const timestamp = parsed?.timestamp;
      if (typeof timestamp === 'number' && Number.isFinite(timestamp)) {
        const delay = (record.receivedAt ?? Date.now()) - timestamp;
        if (state.maxDelay === null || delay > state.maxDelay) state.maxDelay = delay;
      } else if (!(maybeGap && parsed?.type === 'gap')) {
        state.malformed += 1;
      }
    }
  }

  report(): VerifyReport {
    const nodes = [...this.nodes.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([node, state]) => this.nodeReport(node, state));
    const sum = (f: (n: NodeReport) => number) => nodes.reduce((s, n) => s + f(n), 0);
    return {
      fromBeginning: this.fromBeginning,
      records: this.records,
      foreign: this.foreign,
      nodes,
      totals: {
        missing: sum((n) => n.missing),
        announced: sum((n) => n.announced),
        duplicates: sum((n) => n.duplicates),
        historical: sum((n) => n.historical),
      },
    };
  }

  private nodeReport(node: string, state: NodeState): NodeReport {
    const expectedFrom = this.fromBeginning ? 1 : state.lowest;
    const announced = mergeAnnouncements(state.announcements);
    const report: NodeReport = {
      node,
      records: state.records,
      distinct: state.seqs.size,
      duplicates: state.records - state.seqs.size,
      lowest: state.lowest,
      highest: state.highest,
      expectedFrom,
      gaps: [],
      gapsOmitted: 0,
      missing: 0,
      missingRanges: 0,
      announced: 0,
      announcedRanges: 0,
      gapRecords: state.gapRecords,
      historical: state.historical,
      maxHistoricalDelayMs: state.maxDelay,
      malformed: state.malformed,
    };
    const emit = (from: number, to: number, status: GapStatus, reason?: string) => {
      const count = to - from + 1;
      if (status === 'missing') {
        report.missing += count;
        report.missingRanges += 1;
      } else {
        report.announced += count;
        report.announcedRanges += 1;
      }
      if (report.gaps.length < this.maxRanges) report.gaps.push(reason === undefined ? { from, to, count, status } : { from, to, count, status, reason });
      else report.gapsOmitted += 1;
    };
    let j = 0;
    // Holes come in ascending order, announcements are sorted and disjoint: one pass splits each hole.
    state.seqs.holes(expectedFrom, state.highest, (a, b) => {
      let x = a;
      while (x <= b) {
        while (j < announced.length && announced[j]!.to < x) j += 1;
        const ann = announced[j];
        if (ann && ann.from <= x) {
          const end = Math.min(b, ann.to);
          emit(x, end, 'announced', ann.reasons.join(','));
          x = end + 1;
        } else {
          const end = ann ? Math.min(b, ann.from - 1) : b;
          emit(x, end, 'missing');
          x = end + 1;
        }
      }
    });
    return report;
  }
}

/** Sorted, disjoint, adjacent ones joined; reasons kept once each. */
function mergeAnnouncements(list: readonly Announcement[]): Announcement[] {
  const sorted = [...list].sort((a, b) => a.from - b.from);
  const merged: Announcement[] = [];
  for (const a of sorted) {
    const last = merged[merged.length - 1];
    if (last && a.from <= last.to + 1) {
      last.to = Math.max(last.to, a.to);
      for (const r of a.reasons) if (!last.reasons.includes(r)) last.reasons.push(r);
    } else {
      merged.push({ from: a.from, to: a.to, reasons: [...a.reasons] });
    }
  }
  return merged;
}

/** True only when nothing is missing that a gap record did not announce. */
export function ok(report: VerifyReport): boolean {
  return report.nodes.every((n) => n.missing === 0);
}

// ---------------------------------------------------------------------------------------------
// The table a person reads.

const GAP_LINES_PER_NODE = 20;

function delay(ms: number | null): string {
  if (ms === null) return '-';
  if (Math.abs(ms) < 1000) return `${ms} ms`;
  if (Math.abs(ms) < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** `align`: one 'l' or 'r' per column; columns not given are right-aligned. */
function table(header: string[], rows: string[][], align: string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatReport(report: VerifyReport): string {
  const out: string[] = [];
  const run = report.run;
  if (run) {
    const how =
      run.stoppedBy === 'end'
        ? `read up to the end offsets found at start (${run.atStart} records${run.filledFromBeyond ? `, and ${run.filledFromBeyond} just past them that closed holes` : ''})`
        : run.stoppedBy === 'idle'
          ? `stopped after ${run.idleMs} ms without new records`
          : 'stopped by --timeout-ms';
    out.push(
      `topic ${run.topic} on ${run.brokers.join(',')} (${run.partitions} partitions), ${report.fromBeginning ? 'from the beginning' : 'new records only'}; ${how}, ${(run.elapsedMs / 1000).toFixed(1)} s`,
    );
    if (!run.endReached) out.push('WARNING: the end offsets that existed at start were not all read: this check is partial');
  }
  out.push(`records ${report.records}, nodes ${report.nodes.length}, foreign ${report.foreign}${report.foreign ? ' (no edge.node/edge.seq headers, ignored)' : ''}`);
  if (report.nodes.length > 0) {
    out.push('');
    out.push(
      ...table(
        ['node', 'records', 'distinct', 'duplicates', 'seqs', 'missing', 'announced', 'gap records', 'historical', 'max hist. delay'],
        report.nodes.map((n) => [
          n.node,
          String(n.records),
          String(n.distinct),
          String(n.duplicates),
          `${n.lowest}..${n.highest}`,
          String(n.missing),
          String(n.announced),
          String(n.gapRecords),
          String(n.historical),
          delay(n.maxHistoricalDelayMs),
        ]),
        'l',
      ),
    );
    for (const n of report.nodes) {
      if (n.gaps.length === 0) continue;
      out.push('');
      out.push(`${n.node}: ${n.missingRanges} missing and ${n.announcedRanges} announced ranges in ${n.expectedFrom}..${n.highest}`);
      const shown = n.gaps.slice(0, GAP_LINES_PER_NODE);
      out.push(
        ...table(
          ['  seqs', 'count', 'status'],
          shown.map((g) => [`  ${g.from === g.to ? g.from : `${g.from}..${g.to}`}`, String(g.count), g.status === 'missing' ? 'MISSING' : `announced (${g.reason ?? 'unknown'})`]),
          'lrl',
        ),
      );
      const more = n.gaps.length - shown.length + n.gapsOmitted;
      if (more > 0) out.push(`  … ${more} more ranges${n.gapsOmitted ? '' : ' (see --json)'}`);
    }
    const malformed = report.nodes.filter((n) => n.malformed > 0);
    if (malformed.length > 0) {
      out.push('');
      for (const n of malformed) out.push(`${n.node}: ${n.malformed} gap/historical records with an unreadable value`);
    }
  }
  out.push('');
  const { missing, announced, duplicates } = report.totals;
  const short = report.nodes.filter((n) => n.missing > 0).length;
  out.push(
    ok(report)
      ? `OK: nothing missing that was not announced (${announced} announced, ${duplicates} duplicates)`
      : `NOT OK: ${missing} seqs missing in ${short} of ${report.nodes.length} nodes (${announced} announced, ${duplicates} duplicates)`,
  );
  return `${out.join('\n')}\n`;
}
