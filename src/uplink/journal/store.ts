// How the journal's records lie in the file: a captured message written in the compact format (or as its JSON
// when the format cannot hold it), each row with its checksum, and the rows read back as the Kafka values they
// become, a row whose checksum does not match set apart instead of sent altered.
import type Database from 'better-sqlite3';
import type { AckedRanges } from './acked.js';
import { ByteWriter } from './bytes.js';
import { compactChecksum, recordChecksum } from './checksum.js';
import { encodeCompactInto, renderCompact, renderJson, type ContractMessage, type RecordType } from './compact.js';
import type { Dictionary, DictRow } from './dictionary.js';
import { ROW_OVERHEAD, TYPE_CODE, TYPE_NAME } from './schema.js';

interface EntryBase {
  /** Kafka key: `<group>/<node>/<device>`, or `<group>/<node>` for node-level messages. */
  key: string;
  type: RecordType;
  capturedAt: number;
  /** Samples (metrics) the record carries: the unit of the journal's capacity figures. */
  samples?: number;
}

/**
 * What is captured: a message, stored in the compact format (and written as the contract's JSON when it is
 * forwarded), or a Kafka value already written (gap records, tests).
 */
export type JournalEntry = EntryBase & ({ message: ContractMessage; value?: undefined } | { value: string; message?: undefined });

export interface JournalRecord extends EntryBase {
  /**
   * The record's JSON value, as Kafka receives it for a compact record (`"historical":true` when held back); a
   * value stored as JSON (gap records, the plain format) says false, rewritten on the way out when held back.
   */
  value: string;
  seq: number;
  /** True when the record was held back by an outage (uplink down, or the gateway itself not running). */
  held: boolean;
  /** Set when `value` was written from the compact format, with `historical` as `held` says. */
  rendered?: true;
}

/** Compact rows per INSERT statement. */
const MANY = 32;

/** A record as written: compact bytes, or (when the format cannot hold it) its JSON text. */
export interface StoredRow {
  capturedAt: number;
  type: number;
  data: Buffer | null;
  /** Where its compact bytes lie in the batch's buffer; end < start for a JSON row. */
  start: number;
  end: number;
  key: string | null;
  value: string | null;
  bytes: number;
  samples: number;
}

/**
 * A stored row as the forwarder reads it: an array, not an object (better-sqlite3's raw mode builds rows about
 * twice as fast, and a drain reads every row once). The columns, in the order of the peek statement:
 */
export type StoredRowRead = [seq: number, capturedAt: number, type: number, data: Buffer | null, key: string | null, value: string | null, checksum: number | null];
export const SEQ = 0;
export const CAPTURED_AT = 1;
const TYPE = 2;
const DATA = 3;
const KEY = 4;
const VALUE = 5;
const CHECKSUM = 6;

/** A record that failed its check as it was read, and why: it goes to dead_letters, announced as a gap. */
export interface BadRecord {
  record: JournalRecord;
  reason: string;
}

/** The stored text of a record that could not be decoded: its bytes, for a person to look at. */
function undecodable(data: Buffer | null, why: string): string {
  return JSON.stringify({ undecodable: why, data: data ? data.toString('base64') : null });
}

/** The records' rows: written in batches with their checksums, read back in seq order and checked. */
export class RecordStore {
  private readonly params: unknown[] = new Array(MANY * 5).fill(null);
  /** One buffer for the compact bytes of a whole batch: no allocation per record. */
  private readonly writer = new ByteWriter();
  private readonly stmt: {
    insert: Database.Statement;
    insertEntry: Database.Statement;
    insertCompact: Database.Statement;
    insertCompactMany: Database.Statement;
    peek: Database.Statement;
  };

  /** `acked`: the journal's acknowledged ranges, not yet deleted, which reads skip. */
  constructor(
    db: Database.Database,
    private readonly dict: Dictionary,
    private readonly acked: AckedRanges,
  ) {
    this.stmt = {
      insert: db.prepare('INSERT INTO records (seq, captured_at, type, data, key, value, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertCompact: db.prepare('INSERT INTO records (seq, captured_at, type, data, checksum) VALUES (?, ?, ?, ?, ?)'),
      // Rows go in by the MANY in one statement: a statement call costs about as much as the row it inserts.
      insertCompactMany: db.prepare(`INSERT INTO records (seq, captured_at, type, data, checksum) VALUES ${Array(MANY).fill('(?, ?, ?, ?, ?)').join(', ')}`),
      insertEntry: db.prepare('INSERT INTO dictionary (id, entry, checksum) VALUES (?, ?, ?)'),
      peek: db.prepare('SELECT seq, captured_at, type, data, key, value, checksum FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?').raw(true),
    };
  }

  /** The batch as it will be written, and the bytes it adds to the journal; nothing is written yet. */
  rows(entries: readonly JournalEntry[]): { rows: StoredRow[]; bytes: number } {
    this.writer.reset();
    const rows = entries.map((e) => this.row(e));
    for (const r of rows) if (r.end >= r.start) r.data = this.writer.view(r.start, r.end);
    return { rows, bytes: rows.reduce((n, r) => n + r.bytes, 0) };
  }

  /** The entry as it is written: compact when the format holds it exactly, else its JSON. */
  private row(e: JournalEntry): StoredRow {
    const type = TYPE_CODE[e.type];
    const samples = e.samples ?? e.message?.metrics.length ?? 0;
    if (e.message) {
      const start = this.writer.length;
      if (encodeCompactInto(this.writer, e.message, e.key, e.capturedAt, this.dict)) {
        const end = this.writer.length;
        // The view is taken once the whole batch is written (the buffer may grow meanwhile).
        return { capturedAt: e.capturedAt, type, data: null, start, end, key: null, value: null, bytes: end - start + ROW_OVERHEAD, samples };
      }
    }
    const value = e.value ?? renderJson(e.message!);
    return { capturedAt: e.capturedAt, type, data: null, start: 0, end: -1, key: e.key, value, bytes: e.key.length + value.length, samples };
  }

  /**
   * Writes the new dictionary entries and the rows, numbered from `first`, each with its checksum; returns the
   * seq after the last. Call inside the commit's transaction.
   */
  insert(entries: readonly DictRow[], rows: readonly StoredRow[], first: number): number {
    for (const d of entries) this.stmt.insertEntry.run(d.id, d.entry, d.checksum);
    let seq = first;
    const params = this.params;
    for (let i = 0; i < rows.length; i++, seq++) {
      const r = rows[i]!;
      if (!r.data) {
        this.stmt.insert.run(seq, r.capturedAt, r.type, null, r.key, r.value, recordChecksum(seq, r.capturedAt, r.key!, TYPE_NAME[r.type]!, r.value!));
        continue;
      }
      // MANY compact rows in a row: one statement for all of them.
      let n = 0;
      while (n < MANY && i + n < rows.length && rows[i + n]!.data) n += 1;
      if (n < MANY) {
        this.stmt.insertCompact.run(seq, r.capturedAt, r.type, r.data, compactChecksum(seq, r.capturedAt, r.type, r.data));
        continue;
      }
      for (let k = 0; k < MANY; k++) {
        const row = rows[i + k]!;
        const at = k * 5;
        params[at] = seq + k;
        params[at + 1] = row.capturedAt;
        params[at + 2] = row.type;
        params[at + 3] = row.data;
        params[at + 4] = compactChecksum(seq + k, row.capturedAt, row.type, row.data!);
      }
      this.stmt.insertCompactMany.run(params);
      i += MANY - 1;
      seq += MANY - 1;
    }
    params.fill(null);
    return seq;
  }

  /** Rows above `afterSeq`, up to `upTo`, skipping those acknowledged and not yet deleted. */
  held(afterSeq: number, upTo: number, limit: number): StoredRowRead[] {
    let out: StoredRowRead[] = [];
    let cursor = afterSeq;
    while (out.length < limit && cursor < upTo) {
      const inside = this.acked.holding(cursor + 1);
      if (inside) {
        cursor = inside[1];
        continue;
      }
      const next = this.acked.after(cursor);
      const hi = next ? Math.min(upTo, next[0] - 1) : upTo;
      const rows = this.stmt.peek.all(cursor, hi, limit - out.length) as StoredRowRead[];
      if (out.length === 0) out = rows;
      else for (const row of rows) out.push(row);
      if (!next || hi >= upTo || out.length >= limit) break;
      cursor = next[1];
    }
    return out;
  }

  /**
   * The rows as the records Kafka receives, `held` for those at or below `heldUpTo`; a row whose checksum does
   * not match (or that names a damaged dictionary entry) is in `bad` instead, its bytes kept for a person.
   */
  read(rows: readonly StoredRowRead[], heldUpTo: number): { out: JournalRecord[]; bad: BadRecord[] } {
    const out: JournalRecord[] = [];
    const bad: BadRecord[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const seq = r[SEQ];
      const capturedAt = r[CAPTURED_AT];
      const code = r[TYPE];
      const data = r[DATA];
      const type = TYPE_NAME[code] ?? 'data';
      const held = seq <= heldUpTo;
      // Every record built with the same fields in the same order: one object shape for the whole drain.
      if (data !== null) {
        if (r[CHECKSUM] !== compactChecksum(seq, capturedAt, code, data) || TYPE_NAME[code] === undefined) {
          bad.push({ record: { key: '', type, capturedAt, samples: 0, value: undecodable(data, 'checksum mismatch'), seq, held }, reason: 'checksum mismatch' });
          continue;
        }
        let rendered: { key: string; value: string; samples: number };
        try {
          rendered = renderCompact(data, type, capturedAt, this.dict, held);
        } catch (err) {
          // The checksum matched, so the record is as written: a dictionary entry it names was damaged.
          bad.push({ record: { key: '', type, capturedAt, samples: 0, value: undecodable(data, (err as Error).message), seq, held }, reason: 'checksum mismatch' });
          continue;
        }
        out.push({ key: rendered.key, type, capturedAt, samples: rendered.samples, value: rendered.value, seq, held, rendered: true });
        continue;
      }
      const record: JournalRecord = { key: r[KEY] ?? '', type, capturedAt, samples: undefined, value: r[VALUE] ?? '', seq, held };
      // NULL: written before checksums existed.
      const checksum = r[CHECKSUM];
      if (checksum === null || checksum === recordChecksum(seq, capturedAt, record.key, type, record.value)) out.push(record);
      else bad.push({ record, reason: 'checksum mismatch' });
    }
    return { out, bad };
  }
}
