// Records Kafka acknowledged but not yet deleted: their deletion rides with the next commit, so that an SD card
// sees one write for a capture and the acknowledgements before it, not two. Until then they are skipped.

export class AckedRanges {
  /** Sorted, disjoint, not adjacent. */
  private list: Array<[number, number]> = [];

  get size(): number {
    return this.list.length;
  }

  add(from: number, to: number): void {
    if (to < from) return;
    const out: Array<[number, number]> = [];
    let merged: [number, number] = [from, to];
    for (const r of this.list) {
      if (r[1] + 1 < merged[0] || r[0] > merged[1] + 1) out.push(r);
      else merged = [Math.min(r[0], merged[0]), Math.max(r[1], merged[1])];
    }
    out.push(merged);
    out.sort((a, b) => a[0] - b[0]);
    this.list = out;
  }

  /** The range holding `seq`, if any. */
  holding(seq: number): [number, number] | undefined {
    for (const r of this.list) {
      if (r[0] > seq) return undefined;
      if (r[1] >= seq) return r;
    }
    return undefined;
  }

  /** The first range starting above `seq`. */
  after(seq: number): [number, number] | undefined {
    return this.list.find((r) => r[0] > seq);
  }

  /** The parts of from..to that no range covers. */
  uncovered(from: number, to: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let next = from;
    for (const [a, b] of this.list) {
      if (b < next) continue;
      if (a > to) break;
      if (a > next) out.push([next, a - 1]);
      next = b + 1;
    }
    if (next <= to) out.push([next, to]);
    return out;
  }

  /** Hands the ranges over for deletion; they are gone from here once `done` is called. */
  take(): Array<[number, number]> {
    return this.list.map((r) => [r[0], r[1]]);
  }

  /** The deletion of `taken` committed. */
  done(taken: Array<[number, number]>): void {
    const gone = new Set(taken.map((r) => `${r[0]}-${r[1]}`));
    this.list = this.list.filter((r) => !gone.has(`${r[0]}-${r[1]}`));
  }
}
