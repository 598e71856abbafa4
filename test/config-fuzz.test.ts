// Mutated config files through the code `validate` and `run` use (loadConfig), and a sample through the built
// command line: whatever a file holds, the answer is a config or FILE:LINE:COL problems, exit 0 or 2, no stack trace.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, loadConfig } from '../src/edge/config/load.js';
import { runCliAsync } from './helpers/cli.js';
import { rng } from './helpers/fuzz.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const MUTATIONS = 600;
const CLI_SAMPLE = 20;

const prng = (seed: number): (() => number) => rng(seed).next;

const BASES = ['config/gateway.yaml', 'test/configs/rich.yaml', 'test/configs/typo-key.yaml', 'test/configs/wrong-type.yaml', 'test/configs/servers-bad.yaml'].map((f) => readFileSync(f));

const dir = mkdtempSync(join(tmpdir(), 'config-fuzz-'));
const DROP_IN_MUTATIONS = 150;
/**
 * Drop-in bases: the `devices:` sections of the two valid bases, device names changed so that they differ from the
 * main file's (the shipped config). Valid as they are, so that some mutations stay valid.
 */
const DROP_IN_BASES = BASES.slice(0, 2).map((b) => b.toString('latin1')).map((text) => {
  const start = text.search(/^devices:/m);
  const end = text.slice(start).search(/\n\S/);
  return Buffer.from(text.slice(start, end < 0 ? undefined : start + end + 1).replace(/name: ([\w-]+-0)(\d)/g, 'name: $1$2-line2'), 'latin1');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const laughs = (levels: number) =>
  ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: levels }, (_, i) => `lol${i + 1}: &l${i + 1} [${Array(9).fill(`*l${i}`).join(', ')}]`)].join('\n');

type Mutation = (b: Buffer, r: () => number) => Buffer;

function mutations(): Record<string, Mutation> {
  const int = (r: () => number, n: number) => Math.floor(r() * n);
  const pick = <T>(r: () => number, list: readonly T[]) => list[int(r, list.length)]!;
  const lines = (b: Buffer) => b.toString('latin1').split('\n');
  const join = (l: string[]) => Buffer.from(l.join('\n'), 'latin1');
  const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  /** Replaces a random `key: value` value (block or flow) with `value`. */
  const replaceValue = (b: Buffer, r: () => number, value: string) => {
    const text = b.toString('latin1');
    const spots = [...text.matchAll(/: ([^\s,{}[\]#][^,{}\n#]*)/g)];
    if (spots.length === 0) return b;
    const m = pick(r, spots);
    const at = m.index! + 2;
    return Buffer.from(text.slice(0, at) + utf8(value) + text.slice(at + m[1]!.length), 'latin1');
  };
  return {
    deleteLine: (b, r) => { const l = lines(b); l.splice(int(r, l.length), 1); return join(l); },
    duplicateLine: (b, r) => { const l = lines(b); const i = int(r, l.length); l.splice(i, 0, l[i]!); return join(l); },
    swapLines: (b, r) => { const l = lines(b); const i = int(r, l.length); const j = int(r, l.length); [l[i], l[j]] = [l[j]!, l[i]!]; return join(l); },
    randomBytes: (b, r) => { const out = Buffer.from(b); for (let k = 0, n = 1 + int(r, 8); k < n; k++) out[int(r, out.length)] = int(r, 256); return out; },
    insertBytes: (b, r) => { const at = int(r, b.length); return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(r, 16) }, () => int(r, 256))), b.subarray(at)]); },
    truncate: (b, r) => b.subarray(0, int(r, b.length)),
    indent: (b, r) => { const l = lines(b); const i = int(r, l.length); l[i] = r() < 0.5 ? `${' '.repeat(1 + int(r, 4))}${l[i]}` : l[i]!.replace(/^ {1,3}/, ''); return join(l); },
    tabs: (b, r) => { const l = lines(b); const i = int(r, l.length); l[i] = l[i]!.replace(/^( +)/, (s) => '\t'.repeat(Math.max(1, s.length >> 1))); return join(l); },
    anchorAndAlias: (b, r) => {
      const text = b.toString('latin1');
      const spots = [...text.matchAll(/: (?=[^\s&*])/g)];
      if (spots.length < 2) return b;
      const a = pick(r, spots).index! + 2;
      let out = `${text.slice(0, a)}&a ${text.slice(a)}`;
      const later = [...out.matchAll(/: ([^\s,{}[\]#&*][^,{}\n#]*)/g)].filter((m) => m.index! > a);
      if (later.length > 0) { const m = pick(r, later); out = out.slice(0, m.index! + 2) + '*a' + out.slice(m.index! + 2 + m[1]!.length); }
      return Buffer.from(out, 'latin1');
    },
    unknownAlias: (b, r) => replaceValue(b, r, `*${pick(r, ['nope', 'a', 'x1'])}`),
    mergeKey: (b, r) => { const l = lines(b); const i = int(r, l.length); const indent = /^ */.exec(l[i]!)![0]; l.splice(i, 0, `${indent}<<: *${pick(r, ['a', 'tpl', 'none'])}`); return join(l); },
    mergeInFlow: (b) => Buffer.from(b.toString('latin1').replace(/\{ name: (\w+)/, '&m { name: $1').replace(/(\n\s+- )\{ name: (?!\w+, <<)/, '$1{ <<: *m, name: '), 'latin1'),
    selfAlias: (b) => Buffer.concat([b, Buffer.from('\nloop: &loop\n  again: *loop\n')]),
    billionLaughs: (b, r) => Buffer.concat([b, Buffer.from(`\n${laughs(3 + int(r, 7))}\n`)]),
    hugeNumber: (b, r) => replaceValue(b, r, pick(r, ['1e400', '99999999999999999999999', '-0', '.nan', '.inf', '-.inf', '0x7fffffffffffffff', '1_000_000', '0o777', String(Number.MAX_SAFE_INTEGER + 2)])),
    wrongType: (b, r) => replaceValue(b, r, pick(r, ['[]', '{}', 'true', 'null', '~', '"text"', '[1, 2]', '{ a: 1 }', "''", '!!binary aGk=', '!custom x', '2001-12-14t21:59:43.10-05:00'])),
    unicode: (b, r) => replaceValue(b, r, pick(r, ['温度', 'Température °C', '🔥🔥', 'a\u202Eb', 'e\u0301', '\uFEFFbom', '\uFFFD', '\u0085next'])),
    nulBytes: (b, r) => { const at = int(r, b.length); return Buffer.concat([b.subarray(0, at), Buffer.alloc(1 + int(r, 4)), b.subarray(at)]); },
    longLine: (b, r) => replaceValue(b, r, 'x'.repeat(50_000 + int(r, 200_000))),
    deepNesting: (b, r) => Buffer.concat([b, Buffer.from(`\ndeep: ${r() < 0.5 ? `${'['.repeat(20_000)}${']'.repeat(20_000)}` : `\n${'- '.repeat(20_000)}x`}\n`)]),
    duplicateKey: (b) => Buffer.concat([b, Buffer.from('\nsite: { group: again, node: again }\n')]),
    variable: (b, r) => replaceValue(b, r, pick(r, ['${UNSET_FUZZ_VAR}', '${UNSET_FUZZ_VAR:-5}', '$${LITERAL}', '${', '${BAD-NAME}'])),
    multiDoc: (b) => Buffer.concat([b, Buffer.from('\n---\nsite: { group: two, node: docs }\n')]),
    bigFile: (b, r) => (r() < 0.3 ? Buffer.concat([b, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)]) : Buffer.concat([b, Buffer.from(`\n# ${'padding '.repeat(100_000)}\n`)])),
  };
}

interface Outcome { valid: boolean; problems: string[]; ms: number }

function check(file: string): Outcome {
  const started = performance.now();
  try {
    loadConfig(file);
    return { valid: true, problems: [], ms: performance.now() - started };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`loadConfig threw ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
    return { valid: false, problems: err.problems.map(formatProblem), ms: performance.now() - started };
  }
}

describe('config fuzz', () => {
  it(`${MUTATIONS} mutated files: a config or positioned problems, never a throw or a stack; the CLI exits 0 or 2`, async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} repeats this run)`);
    const r = prng(SEED);
    const all = mutations();
    const names = Object.keys(all);
    const counts = { tried: 0, valid: 0, invalid: 0, crashes: 0 };
    const crashes: string[] = [];
    const used = new Map<string, number>();
    let slowest = { ms: 0, name: '' };
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const cases: Array<{ file: string; name: string; outcome: Outcome }> = [];
    for (let i = 0; i < MUTATIONS; i++) {
      // Each kind of mutation once first, then at random; sometimes two or three stacked.
      const chosen = [i < names.length ? names[i]! : names[Math.floor(r() * names.length)]!];
      while (chosen.length < 3 && r() < 0.3) chosen.push(names[Math.floor(r() * names.length)]!);
      let bytes = BASES[Math.floor(r() * BASES.length)]!;
      for (const n of chosen) bytes = all[n]!(bytes, r);
      const name = chosen.join('+');
      for (const n of chosen) used.set(n, (used.get(n) ?? 0) + 1);
      const file = join(dir, `m${i}.yaml`);
      writeFileSync(file, bytes);
      counts.tried += 1;
      let outcome: Outcome;
      try {
        outcome = check(file);
      } catch (err) {
        counts.crashes += 1;
        crashes.push(`#${i} ${name}: ${(err as Error).message}`);
        continue;
      }
      if (outcome.valid) counts.valid += 1;
      else counts.invalid += 1;
      if (outcome.ms > slowest.ms) slowest = { ms: outcome.ms, name: `#${i} ${name}` };
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      for (const p of outcome.problems) {
        if (!p.startsWith(`${file}:`) || !/^\S+:[1-9][0-9]*:[1-9][0-9]* \S/.test(p) || /\n\s+at /.test(p)) crashes.push(`#${i} ${name}: unpositioned problem ${JSON.stringify(p.slice(0, 200))}`);
      }
      cases.push({ file, name, outcome });
    }
    console.log(
      `config fuzz (FUZZ_SEED=${SEED}): ${counts.tried} mutations tried, ${counts.valid} valid, ${counts.invalid} invalid, ${counts.crashes} crashes; ` +
        `slowest ${Math.round(slowest.ms)} ms (${slowest.name}); peak RSS +${Math.round((rssPeak - rssBefore) / 1048576)} MiB; ` +
        `mutations used: ${[...used].map(([n, c]) => `${n} ${c}`).join(', ')}`,
    );
    expect(crashes).toEqual([]);
    expect(counts.crashes).toBe(0);
    expect(counts.tried).toBeGreaterThanOrEqual(500);
    expect(used.size).toBe(names.length);
    expect(counts.valid).toBeGreaterThan(0); // the mutations do not all break the file: both answers are exercised
    expect(slowest.ms).toBeLessThan(10_000);
    expect(rssPeak - rssBefore).toBeLessThan(768 * 1048576);

    // The built command line on a sample, half of it invalid files: exit codes and output as a person sees them.
    const invalid = cases.filter((c) => !c.outcome.valid);
    const valid = cases.filter((c) => c.outcome.valid);
    const sample = [...invalid.slice(0, CLI_SAMPLE - Math.min(5, valid.length)), ...valid.slice(0, Math.min(5, valid.length))];
    for (const c of sample) {
      const out = await runCliAsync(['validate', '--config', c.file], { timeoutMs: 30_000 });
      const label = `${c.name} (${c.file})`;
      expect(out.code, label).toBe(c.outcome.valid ? 0 : 2);
      expect(`${out.stdout}${out.stderr}`, label).not.toMatch(/^\s+at /m);
      if (c.outcome.valid) expect(out.stdout, label).toContain(`${c.file}: valid`);
      else expect(out.stderr.trimEnd().split('\n'), label).toEqual(c.outcome.problems);
    }
    // `run` reads the file the same way: an invalid one ends at once with exit 2 and the same lines.
    for (const c of invalid.slice(0, 3)) {
      const out = await runCliAsync(['run', '--config', c.file], { timeoutMs: 30_000 });
      expect(out.code, c.name).toBe(2);
      expect(out.stderr.trimEnd().split('\n'), c.name).toEqual(c.outcome.problems);
    }
    console.log(`config fuzz CLI: ${sample.length} files through "validate" (${sample.filter((c) => !c.outcome.valid).length} invalid), 3 through "run"`);
  }, 180_000);

  it(`${DROP_IN_MUTATIONS} mutated drop-ins beside a valid config: a config or problems positioned in the drop-in, never a throw`, async () => {
    // Seeded from the printed seed, apart from the main files' sequence: FUZZ_SEED repeats both.
    const r = prng(SEED ^ 0x5eed);
    const all = mutations();
    const names = Object.keys(all);
    const site = join(dir, 'site');
    mkdirSync(join(site, 'conf.d'), { recursive: true });
    const main = join(site, 'gateway.yaml');
    writeFileSync(main, BASES[0]!);
    const dropIn = join(site, 'conf.d', 'line2.yaml');
    for (const base of DROP_IN_BASES) {
      writeFileSync(dropIn, base);
      expect(check(main).problems).toEqual([]);
    }
    const counts = { valid: 0, invalid: 0 };
    const bad: string[] = [];
    const sample: Array<{ name: string; bytes: Buffer; outcome: Outcome }> = [];
    for (let i = 0; i < DROP_IN_MUTATIONS; i++) {
      const chosen = [i < names.length ? names[i]! : names[Math.floor(r() * names.length)]!];
      if (r() < 0.3) chosen.push(names[Math.floor(r() * names.length)]!);
      let bytes = DROP_IN_BASES[Math.floor(r() * DROP_IN_BASES.length)]!;
      for (const n of chosen) bytes = all[n]!(bytes, r);
      const name = `drop-in #${i} ${chosen.join('+')}`;
      writeFileSync(dropIn, bytes);
      let outcome: Outcome;
      try {
        outcome = check(main);
      } catch (err) {
        bad.push(`${name}: ${(err as Error).message}`);
        continue;
      }
      counts[outcome.valid ? 'valid' : 'invalid'] += 1;
      // The main file is valid alone: whatever is wrong is in the drop-in, and named there.
      for (const p of outcome.problems) {
        if (!p.startsWith(`${dropIn}:`) || !/^\S+:[1-9][0-9]*:[1-9][0-9]* \S/.test(p)) bad.push(`${name}: not positioned in the drop-in: ${JSON.stringify(p.slice(0, 200))}`);
      }
      if (sample.length < 4 && (outcome.valid ? sample.every((c) => !c.outcome.valid) : true)) sample.push({ name, bytes, outcome });
    }
    console.log(`config fuzz drop-ins (FUZZ_SEED=${SEED}): ${DROP_IN_MUTATIONS} mutated drop-ins, ${counts.valid} valid, ${counts.invalid} invalid, ${bad.length} bad answers`);
    expect(bad).toEqual([]);
    expect(counts.valid).toBeGreaterThan(0);
    expect(counts.invalid).toBeGreaterThan(0);
    for (const c of sample) {
      writeFileSync(dropIn, c.bytes);
      const out = await runCliAsync(['validate', '--config', main], { timeoutMs: 30_000 });
      expect(out.code, c.name).toBe(c.outcome.valid ? 0 : 2);
      if (c.outcome.valid) expect(out.stdout, c.name).toContain(`${main}: valid`);
      else expect(out.stderr.trimEnd().split('\n'), c.name).toEqual(c.outcome.problems);
    }
  }, 120_000);
});
