import { describe, expect, it } from 'vitest';
import { BLIND_JUMP, judgeOpen, type DbFacts } from './damage.js';
import type { SideRead } from './side-file.js';

const db = (over: Partial<DbFacts> = {}): DbFacts => ({ id: 7, next: 41, ceiling: 1041, lowest: 31, ...over });
const side = (over: Partial<Extract<SideRead, { kind: 'ok' }>['state']> = {}): SideRead => ({ kind: 'ok', state: { id: 7, ceiling: 2000, acked: 30, closedAt: null, boot: 'b1', ...over } });

describe('judging a journal at open', () => {
  it('trusts a crashed run on the same boot when its WAL checks out, and nothing else after a crash', () => {
    expect(judgeOpen(side(), db(), 'intact', 'b1')).toEqual({ next: 41 });
    for (const [wal, boot, why] of [
      ['lost', 'b1', /WAL lost/],
      ['unverifiable', 'b1', /cannot be checked/],
      ['none', 'b1', /cannot be checked/],
      ['intact', 'b2', /rebooted/], // a power cut: commits not yet on the card vanish without a trace
      ['intact', '', /rebooted/],
    ] as const) {
      const v = judgeOpen(side(), db(), wal, boot);
      expect(v, `${wal} on boot ${boot}`).toEqual({ next: 2000, lost: { from: 31, to: 1999, why: expect.stringMatching(why) } });
    }
  });

  it('after an orderly close, the exact next seq bounds the loss', () => {
    expect(judgeOpen(side({ closedAt: 61 }), db({ next: 61 }), 'none', 'b2')).toEqual({ next: 61 });
    expect(judgeOpen(side({ closedAt: 61 }), db({ next: 41 }), 'none', 'b1')).toEqual({ next: 61, lost: { from: 31, to: 60, why: expect.stringMatching(/lost committed records/) } });
    expect(judgeOpen(side({ closedAt: 61 }), db({ id: undefined, next: 1, lowest: undefined }), 'none', 'b1').lost).toMatchObject({ from: 31, to: 60, why: expect.stringMatching(/empty one/) });
  });

  it('without a usable side file, the database decides; with its WAL lost too, seqs jump past everything on disk', () => {
    for (const kind of ['missing', 'damaged'] as const) {
      const s: SideRead = kind === 'missing' ? { kind } : { kind, error: 'garbage' };
      expect(judgeOpen(s, db(), 'intact', 'b1')).toEqual({ next: 41 });
      expect(judgeOpen(s, db(), 'none', 'b1')).toEqual({ next: 41 });
      expect(judgeOpen(s, db(), 'lost', 'b1')).toEqual({ next: 1041 + BLIND_JUMP, lost: { from: 31, to: 1040 + BLIND_JUMP, why: expect.any(String) } });
    }
    // The format before ids: a reservation, not a use (an upgrade does not skip seqs), but a bound after damage.
    expect(judgeOpen({ kind: 'legacy', ceiling: 100_041 }, db(), 'intact', 'b1')).toEqual({ next: 41 });
    expect(judgeOpen({ kind: 'legacy', ceiling: 100_041 }, db(), 'lost', 'b1').lost).toMatchObject({ from: 31, to: 100_040 });
  });
});
