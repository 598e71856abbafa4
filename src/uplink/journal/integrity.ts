// SQLite's own check of the journal file. It reads the whole file, so a large journal is checked by a worker
// thread after open, while capture runs: open time does not grow with the backlog. Corruption found there is
// remembered in a marker file beside the journal, so that the next open checks before use and sets the file
// aside; the caller is told, and restarts the gateway.
import { createRequire } from 'node:module';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** Files up to this size are checked before use: some 50 ms here. */
export const SYNC_CHECK_BYTES = 16 * 1024 ** 2;

const markerOf = (file: string) => `${file}.check-failed`;

/** True when the file must be checked before use: small, or found corrupt by an earlier background check. */
export function checkBeforeUse(file: string, syncCheckBytes = SYNC_CHECK_BYTES): boolean {
  if (existsSync(markerOf(file))) return true;
  try {
    return statSync(file).size <= syncCheckBytes;
  } catch {
    return true;
  }
}

/** Runs the check on the open connection; throws when the file is corrupt. A passed check clears the marker. */
export function checkNow(db: Database.Database, file: string): void {
  const result = db.pragma('quick_check', { simple: true });
  if (result !== 'ok') throw new Error(`journal integrity check failed: ${String(result)}`);
  rmSync(markerOf(file), { force: true });
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
let result;
try {
  const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  // The check reads every page once: a small cache does, where the default 16 MB stays resident after it.
  db.pragma('cache_size = -1024');
  try { result = String(db.pragma('quick_check', { simple: true })); } finally { db.close(); }
} catch (err) {
  const code = (err && err.code) || '';
  result = code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' ? String(err.message) : 'ok';
}
parentPort.postMessage(result);
`;

/** Checks the file in a worker thread; `corrupt` is told what SQLite found, after the marker was written. */
export function checkInBackground(file: string, corrupt: (why: string) => void): () => void {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { file, sqlite } });
  worker.unref();
  worker.on('message', (result: string) => {
    if (result === 'ok') return;
    try {
      writeFileSync(markerOf(file), `${result}\n`);
    } catch {
      // A full disk: the caller is told all the same, and a restart checks the file again.
    }
    corrupt(result);
  });
  worker.on('error', () => undefined); // a check that could not run is not a verdict on the file
  return () => void worker.terminate();
}
