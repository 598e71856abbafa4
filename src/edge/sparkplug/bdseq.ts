import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The birth/death sequence, kept on disk so that a restarted gateway's NBIRTH is told apart from the previous
 * process's NDEATH. [tck-id-topics-nbirth-bdseq-increment] starts at 0, +1 on every new CONNECT, 255 wraps to 0.
 */
export class BdSeqStore {
  constructor(private readonly file: string) {}

  /** The bdSeq for the next CONNECT, written to disk before it is used. */
  next(): number {
    const last = this.read();
    const next = last === undefined ? 0 : (last + 1) % 256;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${next}\n`);
    renameSync(tmp, this.file);
    return next;
  }

  read(): number | undefined {
    try {
      const n = Number.parseInt(readFileSync(this.file, 'utf8').trim(), 10);
      return Number.isInteger(n) && n >= 0 && n <= 255 ? n : undefined;
    } catch {
      return undefined;
    }
  }
}
