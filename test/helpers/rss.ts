// The resident memory of a process as Linux reports it, read from outside (no gc, no help from the process).
import { readFileSync } from 'node:fs';
import { sleep } from './net.js';

/** VmRSS of `pid` in MB. */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** The median of `n` samples `everyMs` apart: one sample may catch a collection half done. */
export async function medianRssMb(pid: number, n = 5, everyMs = 200): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    samples.push(rssMb(pid));
    if (i < n - 1) await sleep(everyMs);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(n / 2)]!;
}

/** The soft limit on open files of this process (what `ulimit -n` says). */
export function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/**
 * The RSS once it is back within `ratio` of `baseline` (V8 gives memory back on its own, some 30 s after a burst of sockets), or
 * the last median after `timeoutMs`; with how long that took.
 */
export async function settledRssMb(pid: number, baseline: number, ratio = 1.1, timeoutMs = 90_000): Promise<{ mb: number; afterMs: number }> {
  const start = Date.now();
  let mb = await medianRssMb(pid);
  while (mb > baseline * ratio && Date.now() - start < timeoutMs) mb = await medianRssMb(pid);
  return { mb, afterMs: Date.now() - start };
}
