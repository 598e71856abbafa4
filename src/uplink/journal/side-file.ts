// The journal's side file (`journal.db.seq`), kept apart from the SQLite file so that it survives what happens to
// that file and its WAL: the seq ceiling (no seq at or above it was ever handed out), the mark below which Kafka
// acknowledged everything, the journal's id, and whether the last run closed the journal cleanly.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { textChecksum } from './checksum.js';

export interface SideState {
  /** Random id, also in the database's meta table: a file replaced or recreated empty is recognised. */
  id: number;
  /** Every seq handed out is below this. */
  ceiling: number;
  /** Every seq at or below this left the journal (acknowledged, announced as dropped, or dead-lettered). */
  acked: number;
  /** Set by an orderly close: the next seq, exactly. Null while the journal is open (or after a crash). */
  closedAt: number | null;
  /** The kernel's boot id of the run that wrote the file: a different one means a reboot (a power cut?). */
  boot: string;
}

export type SideRead =
  | { kind: 'ok'; state: SideState }
  /** The format before ids and acknowledgements: the ceiling alone. */
  | { kind: 'legacy'; ceiling: number }
  | { kind: 'missing' }
  | { kind: 'damaged'; error: string };

export const sideFile = (journal: string) => `${journal}.seq`;
const tmpOf = (journal: string) => `${sideFile(journal)}.tmp`;

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export function parseSide(text: string): SideRead {
  if (text.length === 0) return { kind: 'damaged', error: 'empty' };
  if (/^\d{1,16}\n?$/.test(text)) {
    const n = Number.parseInt(text, 10);
    return Number.isSafeInteger(n) && n > 0 ? { kind: 'legacy', ceiling: n } : { kind: 'damaged', error: 'not a ceiling' };
  }
  const nl = text.indexOf('\n');
  const body = nl < 0 ? text : text.slice(0, nl);
  const m = / sum=([0-9a-f]{8})$/.exec(body);
  if (!m) return { kind: 'damaged', error: 'no checksum' };
  const json = body.slice(0, m.index);
  if (textChecksum(json) !== Number.parseInt(m[1]!, 16)) return { kind: 'damaged', error: 'checksum mismatch' };
  try {
    const s = JSON.parse(json) as Partial<SideState>;
    if (isCount(s.id) && isCount(s.ceiling) && isCount(s.acked) && (s.closedAt === null || isCount(s.closedAt)) && typeof s.boot === 'string') {
      return { kind: 'ok', state: { id: s.id, ceiling: s.ceiling, acked: s.acked, closedAt: s.closedAt, boot: s.boot } };
    }
  } catch {
    // fall through: a checksum collision over garbage
  }
  return { kind: 'damaged', error: 'bad fields' };
}

function readOne(path: string): SideRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'damaged', error: (err as Error).message };
  }
  return parseSide(text);
}

/**
 * The side file, and the temporary file of a write that a crash interrupted before its rename: of two good
 * ones, the later (higher ceiling, higher mark) wins.
 */
export function readSide(journal: string): { main: SideRead; best: SideRead } {
  const main = readOne(sideFile(journal));
  const tmp = readOne(tmpOf(journal));
  const rank = (r: SideRead) => (r.kind === 'ok' ? 2 : r.kind === 'legacy' ? 1 : 0);
  let best = main;
  if (rank(tmp) > rank(main)) best = tmp;
  else if (tmp.kind === 'ok' && main.kind === 'ok' && tmp.state.id === main.state.id && tmp.state.ceiling > main.state.ceiling) best = tmp;
  return { main, best };
}

/** Any ceiling the side files still show, good or legacy: seqs never go below it. */
export function ceilingOf(r: SideRead): number {
  return r.kind === 'ok' ? r.state.ceiling : r.kind === 'legacy' ? r.ceiling : 0;
}

export function formatSide(s: SideState): string {
  const json = JSON.stringify({ id: s.id, ceiling: s.ceiling, acked: s.acked, closedAt: s.closedAt, boot: s.boot });
  return `${json} sum=${textChecksum(json).toString(16).padStart(8, '0')}\n`;
}

/** Atomic: the old file or the new one, never half of either, and the rename itself made durable. */
export function writeSide(journal: string, s: SideState): void {
  const tmp = tmpOf(journal);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, formatSide(s));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, sideFile(journal));
  const dir = openSync(dirname(journal), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

let bootId: string | undefined;
export function currentBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = ''; // unknown: every unclean shutdown is then treated as a possible power cut
    }
  }
  return bootId;
}
