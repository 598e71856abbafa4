// At open: can the database's own next_seq be trusted, or did damage to the file or its WAL lose seqs that
// were handed out (and may be in Kafka already)? Pure, so that every case is tested without files.
import type { SideRead } from './side-file.js';
import type { WalVerdict } from './wal-evidence.js';

export interface DbFacts {
  /** meta.journal_id; undefined in a file that never had one (new, recreated empty, or older than ids). */
  id: number | undefined;
  /** max(meta.next_seq, max(seq) + 1, the dead letters' max(seq) + 1). */
  next: number;
  /** The ceiling the database last recorded (its copy; lost with the database). */
  ceiling: number;
  /** The lowest seq the database holds, or undefined when it holds none. */
  lowest: number | undefined;
}

export interface OpenVerdict {
  next: number;
  /** When seqs may have been lost: the window (after the acked mark, up to the last seq possibly handed out). */
  lost?: { from: number; to: number; why: string };
}

/** How far past every seq on disk to jump when nothing on disk bounds the lost ones (side file and WAL both gone). */
export const BLIND_JUMP = 100_000;

export function judgeOpen(side: SideRead, db: DbFacts, wal: WalVerdict, boot: string): OpenVerdict {
  const dbMark = (db.lowest ?? db.next) - 1;
  if (side.kind === 'legacy') {
    // The format before ids: its ceiling still bounds every seq handed out, should the WAL have lost some.
    if (wal !== 'lost') return { next: db.next };
    return { next: Math.max(db.next, side.ceiling), lost: { from: dbMark + 1, to: Math.max(db.next, side.ceiling) - 1, why: 'the WAL lost committed frames' } };
  }
  if (side.kind !== 'ok') {
    // Without the side file the database's state is all there is; it holds unless its WAL lost frames.
    if (wal === 'intact' || wal === 'none') return { next: db.next };
    // Both damaged: nothing bounds what the lost WAL held, so seqs jump far past everything on disk.
    const to = Math.max(db.next, db.ceiling) - 1 + BLIND_JUMP;
    return { next: to + 1, lost: { from: dbMark + 1, to, why: `the side file is ${side.kind} and the WAL ${wal === 'lost' ? 'lost committed frames' : 'cannot be checked'}` } };
  }
  const s = side.state;
  const from = Math.max(s.acked, 0) + 1;
  if (s.closedAt !== null) {
    // An orderly close wrote the exact next seq after the last commit was in the database file.
    if (db.id === s.id && db.next >= s.closedAt) return { next: db.next };
    const why = db.id === undefined ? 'the database file was replaced by an empty one' : 'the database file lost committed records';
    return { next: Math.max(db.next, s.closedAt), lost: { from, to: Math.max(db.next, s.closedAt) - 1, why } };
  }
  // The last run did not close the journal: a crash. Without a reboot, the files are what it wrote, if its WAL
  // index and WAL agree. After a reboot (a power cut), commits not yet on the card may be gone without a trace.
  if (db.id === s.id && wal === 'intact' && boot !== '' && s.boot === boot) return { next: Math.max(db.next, 1) };
  const why =
    db.id === undefined ? 'the database file was replaced by an empty one'
      : wal === 'lost' ? 'the WAL lost committed frames'
        : s.boot !== boot ? 'the gateway rebooted without closing the journal (power cut?)'
          : 'the WAL cannot be checked after a crash (its index is missing or damaged)';
  const to = Math.max(db.next, s.ceiling) - 1;
  return { next: to + 1, lost: { from, to, why } };
}
