// The seq ceiling: edge.seq values are reserved in the side file, in blocks, before any of them is used, so that
// no damage to the SQLite file or its WAL makes the journal hand out a seq twice. The side file also carries
// the acknowledged mark, which narrows what such damage would announce as possibly lost.
import { currentBoot, writeSide } from './side-file.js';

/**
 * Seqs are reserved in the side file in blocks before use: some ten seconds of capture, at least MIN_BLOCK and
 * at most SEQ_BLOCK, so that the side file is written rarely and what a damaged WAL forces to be announced
 * (everything up to the ceiling) stays small.
 */
const SEQ_BLOCK = 100_000;
const MIN_BLOCK = 1000;
/**
 * The acknowledged mark reaches the side file at most once per this many ms: it runs on SD cards, and the mark
 * only narrows what damage to the files would announce as possibly lost (a later mark announces more).
 */
const ACK_WRITE_MS = 300_000;

/** The journal's reservation of seqs, and its side file's writes. */
export class SeqCeiling {
  /** Seqs below this are reserved in the side file, so that no damage to the database makes one used twice. */
  ceiling = 0;
  private block = MIN_BLOCK;
  private reservedAt = 0;
  private reservedFrom = 0;
  private sideWrittenAt = 0;
  private sideTimer: NodeJS.Timeout | undefined;

  /**
   * `id` is the journal's (in the side file and the meta table); `ackedMark` reads the journal's acknowledged
   * mark, and `isOpen` whether the database is still open when a deferred write comes due.
   */
  constructor(
    private readonly file: string,
    readonly id: number,
    private readonly options: { ackMarkIntervalMs?: number },
    private readonly ackedMark: () => number,
    private readonly isOpen: () => boolean,
  ) {}

  /**
   * Raises the reserved ceiling, written to the side file before a seq below it is used; returns true when it
   * did. A block lasts some ten seconds at the rate the last one was used up.
   */
  reserve(next: number): boolean {
    if (next <= this.ceiling) return false;
    const now = Date.now();
    if (this.reservedAt > 0) {
      const perMs = (next - this.reservedFrom) / Math.max(1, now - this.reservedAt);
      this.block = Math.min(SEQ_BLOCK, Math.max(MIN_BLOCK, Math.ceil(perMs * 10_000)));
    }
    // The ceiling is raised only once the side file holds it: a write that fails (a full disk) leaves the old
    // ceiling, so the retry of the same batch tries the write again instead of using seqs no file reserved.
    const previous = this.ceiling;
    this.ceiling = next + this.block;
    try {
      this.writeSideFile(null);
    } catch (err) {
      this.ceiling = previous;
      throw err;
    }
    this.reservedAt = now;
    this.reservedFrom = next;
    return true;
  }

  private writeSideFile(closedAt: number | null): void {
    clearTimeout(this.sideTimer);
    this.sideTimer = undefined;
    writeSide(this.file, { id: this.id, ceiling: this.ceiling, acked: this.ackedMark(), closedAt, boot: currentBoot() });
    this.sideWrittenAt = Date.now();
  }

  /** The acknowledged mark reaches the side file within ACK_WRITE_MS, in one write however many acks came. */
  ackedMoved(): void {
    if (this.sideTimer) return;
    const write = () => {
      this.sideTimer = undefined;
      if (!this.isOpen()) return;
      try {
        this.writeSideFile(null);
      } catch {
        // A full disk: the mark is only an optimisation of what damage would announce; the next ack tries again.
      }
    };
    const wait = this.sideWrittenAt + (this.options.ackMarkIntervalMs ?? ACK_WRITE_MS) - Date.now();
    if (wait <= 0) write();
    else this.sideTimer = setTimeout(write, wait).unref();
  }

  /**
   * At close, the database closed: the exact next seq, so that the next open needs no reserve and knows what a
   * damaged file lost exactly. Not after a failed checkpoint (`checkpointed` false): then the WAL still matters,
   * and the next open checks it as after a crash.
   */
  closed(acked: number, nextSeq: number, checkpointed: boolean): void {
    clearTimeout(this.sideTimer);
    this.sideTimer = undefined;
    try {
      if (checkpointed) writeSide(this.file, { id: this.id, ceiling: this.ceiling, acked, closedAt: nextSeq, boot: currentBoot() });
    } catch {
      // The side file still holds the reserved ceiling: the next open treats this as a crash, which is safe.
    }
  }
}
