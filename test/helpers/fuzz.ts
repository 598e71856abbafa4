// Seeded randomness for the fuzz tests: every run prints its seed, and FUZZ_SEED=<seed> replays it exactly.
export interface Rng {
  readonly seed: number;
  /** [0, 1) */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
  chance(p: number): boolean;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    chance: (p) => next() < p,
  };
}

/** The run's seed: FUZZ_SEED when set, else a fresh one; printed with the fuzz target's name either way. */
export function fuzzSeed(target: string): Rng {
  const fromEnv = process.env.FUZZ_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`fuzz ${target}: seed ${seed} (replay with FUZZ_SEED=${seed})`);
  return rng(seed);
}
