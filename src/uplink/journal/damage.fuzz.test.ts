// Seeded fuzz over real SQLite files: rounds of capture, acknowledgement, an orderly stop or a crash image (the
// files copied while the journal is open, as a power cut leaves them), random damage to one of journal.db, its
// -wal, its -shm or the side file, and a reopen. Over the whole run no seq is handed out twice, and every seq
// handed out is acknowledged, still readable unaltered, or named by a gap record. FUZZ_SEED repeats a run;
// FUZZ_MS bounds it (default 30 s).
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openJournal, type Gap, type Journal, type JournalEntry, type JournalRecord } from './journal.js';
import { renderJson, type ContractMessage } from './compact.js';
import { parseSide } from './side-file.js';
import { rng } from '../../../test/helpers/fuzz.js';

const mulberry32 = (seed: number): (() => number) => rng(seed).next;

const gapEntry = (g: Gap): JournalEntry => ({ key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() });
const SUFFIXES = ['', '-wal', '-shm', '.seq'] as const;
const newFile = () => join(mkdtempSync(join(tmpdir(), 'journal-fuzz-')), 'journal.db');

describe('journal damage fuzz', () => {
  it('no seq twice, nothing lost unannounced, whatever happens to the files', { timeout: 120_000 }, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const budgetMs = Number(process.env.FUZZ_MS ?? 30_000);
    console.log(`fuzz seed ${seed} (FUZZ_SEED=${seed} repeats this run)`);
    const random = mulberry32(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

    /** Every seq handed out, with what it carried. */
    const handedOut = new Map<number, string>();
    const acked = new Set<number>();
    const announced: Array<[number, number]> = [];
    const gapSeqs = new Set<number>();
    const violations: string[] = [];
    const damages: Record<string, number> = {};
    let quarantines = 0;
    let damagedOpens = 0;
    let rounds = 0;
    let counter = 0;
    const isAnnounced = (s: number) => announced.some(([a, b]) => s >= a && s <= b);
    let violationCount = 0;
    const violate = (what: string) => {
      violationCount += 1;
      if (violations.length < 20) violations.push(`round ${rounds}: ${what}`); // the first ones tell the story
    };

    /** A record's value as captured: a compact record held back is written with "historical":true, as Kafka receives it. */
    const captured = (r: JournalRecord) => (r.held && r.type !== 'gap' ? r.value.replace('"historical":true', '"historical":false') : r.value);

    /** Reads everything the journal holds: registers its announcements, checks nothing came back altered. */
    const survey = (j: Journal) => {
      const held = new Map<number, string>();
      // A read that finds an altered record sets it aside and announces it in a gap record appended behind what
      // it read: read again to see the announcement.
      const mismatches = j.stats().checksumMismatches;
      let records = j.peek(0, 10_000_000);
      if (j.stats().checksumMismatches !== mismatches) records = j.peek(0, 10_000_000);
      for (const r of records) {
        held.set(r.seq, captured(r));
        if (r.type === 'gap') {
          const known = handedOut.get(r.seq);
          if (known !== undefined && known !== r.value) violate(`gap record at seq ${r.seq}, which was handed out before`);
          handedOut.set(r.seq, r.value);
          if (!gapSeqs.has(r.seq)) {
            gapSeqs.add(r.seq);
            announced.push(...(JSON.parse(r.value) as Gap).ranges);
          }
        } else if (handedOut.get(r.seq) !== captured(r)) {
          violate(`seq ${r.seq} read back ${handedOut.has(r.seq) ? 'altered' : 'though never handed out'}`);
        }
      }
      return held;
    };

    let file = newFile();
    let journal = openJournal(file, { gapEntry, ackMarkIntervalMs: 200 }).journal;
    const started = Date.now();
    while (Date.now() - started < budgetMs && rounds < 400) {
      rounds += 1;
      // Capture: a few batches, sometimes a checkpoint between them so that the database file holds some.
      for (let b = int(1, 4); b > 0; b--) {
        const batch = Array.from({ length: int(1, 60) }, (): JournalEntry => {
          counter += 1;
          if (random() < 0.5) return { key: `g/n/d${counter % 7}`, type: 'data', value: `{"n":${counter},"historical":false,"pad":"${'x'.repeat(int(0, 300))}"}`, capturedAt: 1_000_000 + counter };
          // Half in the compact format: its bytes, checksums and dictionary meet the same damage.
          const message: ContractMessage = {
            type: 'data', group: 'g', node: 'n', device: `d${counter % 7}`, timestamp: 1_000_000 + counter,
            metrics: Array.from({ length: int(1, 12) }, (_, k) => ({ name: `tag${k}`, timestamp: 1_000_000 + counter, datatype: 'Float', value: Math.fround(counter / (k + 1)), quality: 'good' as const })),
          };
          return { key: `g/n/d${counter % 7}`, type: 'data', message, capturedAt: 1_000_000 + counter };
        });
        const { first } = journal.append(batch);
        batch.forEach((e, i) => {
          if (handedOut.has(first + i)) violate(`seq ${first + i} handed out twice`);
          handedOut.set(first + i, e.value ?? renderJson(e.message!));
        });
        if (random() < 0.3) journal.checkpoint();
      }
      // Forward: acknowledge a prefix of what is held, as Kafka would.
      const peeked = journal.peek(0, int(0, 200));
      for (const r of peeked) if (r.type === 'gap' && !gapSeqs.has(r.seq)) {
        gapSeqs.add(r.seq);
        handedOut.set(r.seq, r.value);
        announced.push(...(JSON.parse(r.value) as Gap).ranges);
      }
      if (peeked.length > 0) {
        for (const r of peeked) {
          if (r.type !== 'gap' && handedOut.get(r.seq) !== captured(r)) violate(`seq ${r.seq} forwarded altered`);
          acked.add(r.seq);
        }
        journal.ack(peeked[0]!.seq, peeked[peeked.length - 1]!.seq);
      }
      // Sometimes time passes, and the acknowledged mark reaches the side file.
      if (random() < 0.2) {
        const deadline = Date.now() + 1500;
        const want = journal.stats().records === 0 ? journal.stats().nextSeq - 1 : (journal.peek(0, 1)[0]?.seq ?? 1) - 1;
        while (Date.now() < deadline) {
          const side = existsSync(`${file}.seq`) ? parseSide(readFileSync(`${file}.seq`, 'utf8')) : undefined;
          if (side?.kind === 'ok' && side.state.acked >= want) break;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      // Stop: orderly, or a crash image of the files as they are on disk now.
      if (random() < 0.3) {
        journal.close();
      } else {
        const image = newFile();
        for (const s of SUFFIXES) if (existsSync(file + s)) copyFileSync(file + s, image + s);
        journal.close();
        file = image;
      }
      // Damage one of the files.
      if (random() < 0.85) {
        const present = SUFFIXES.filter((s) => existsSync(file + s) && statSync(file + s).size >= 0);
        if (present.length > 0) {
          const target = file + pick(present);
          const size = statSync(target).size;
          const kind = pick(['delete', 'zero', 'truncate', 'garbage', 'garbage-all'] as const);
          const name = `${kind} ${target.slice(file.length) || 'journal.db'}`;
          damages[name] = (damages[name] ?? 0) + 1;
          if (kind === 'delete') rmSync(target);
          else if (kind === 'zero') truncateSync(target, 0);
          else if (kind === 'truncate') truncateSync(target, int(0, size));
          else if (kind === 'garbage-all') writeFileSync(target, randomBytes(Math.max(size, 1)));
          else {
            const length = int(1, 4096);
            const fd = openSync(target, 'r+');
            writeSync(fd, Buffer.from(Array.from({ length }, () => int(0, 255))), 0, length, int(0, Math.max(0, size - 1)));
            closeSync(fd);
          }
        }
      }
      // Reopen: quarantine is an answer, an exception is not.
      const highest = Math.max(0, ...handedOut.keys());
      try {
        const opened = openJournal(file, { gapEntry, ackMarkIntervalMs: 200 });
        journal = opened.journal;
        if (opened.quarantined) quarantines += 1;
        if (opened.damaged) damagedOpens += 1;
      } catch (err) {
        violate(`open threw: ${(err as Error).message}`);
        file = newFile();
        journal = openJournal(file, { gapEntry, ackMarkIntervalMs: 200 }).journal;
      }
      if (journal.stats().nextSeq <= highest) violate(`next seq ${journal.stats().nextSeq} not above ${highest}, handed out before`);
      let held: Map<number, string>;
      try {
        held = survey(journal);
      } catch (err) {
        violate(`reading the reopened journal threw: ${(err as Error).message}`);
        continue;
      }
      for (const [seq, value] of handedOut) {
        if (acked.has(seq) || held.get(seq) === value || isAnnounced(seq)) continue;
        violate(`seq ${seq} neither acknowledged, held nor announced`);
      }
    }
    journal.close();

    let lostButAnnounced = 0;
    const finalHeld = new Map<number, string>();
    const last = openJournal(file, { gapEntry, ackMarkIntervalMs: 200 }).journal;
    for (const r of last.peek(0, 10_000_000)) finalHeld.set(r.seq, r.value);
    last.close();
    for (const [seq, value] of handedOut) if (!acked.has(seq) && finalHeld.get(seq) !== value && isAnnounced(seq)) lostButAnnounced += 1;
    const kinds = Object.entries(damages).sort().map(([k, n]) => `${k} ×${n}`).join(', ');
    console.log(
      `fuzz seed ${seed}: ${rounds} rounds in ${Math.round((Date.now() - started) / 1000)} s; ${handedOut.size} seqs handed out, ${acked.size} acknowledged; ` +
        `damage applied: ${kinds}; ${quarantines} quarantines, ${damagedOpens} opens that found damage, ${gapSeqs.size} gap records, ` +
        `${lostButAnnounced} seqs lost but announced; violations: ${violationCount}`,
    );
    for (const v of violations) console.log(`  ${v}`);
    expect(rounds).toBeGreaterThanOrEqual(20);
    expect(violations).toEqual([]);
    expect(violationCount).toBe(0);
  });
});
