// pymodbus (Python) as the independent Modbus peer: scripts/pymodbus-server.py serving known values over TCP or
// over a serial line, and socat making the serial line (a pair of linked pseudo-terminals).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './net.js';
import { peerPython } from './python-peer.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Table = 'coil' | 'discrete' | 'input' | 'holding';

/** A value the Python side encodes itself (struct), at a place and in a layout. */
export interface KnownValue {
  table: Table;
  address: number;
  type: string;
  value: number | bigint | string | boolean;
  byte_order?: 'big' | 'little';
  word_order?: 'big' | 'little';
  length?: number;
  bit?: number;
}

export interface UnitSpec {
  values?: KnownValue[];
  /** Only addresses holding a value exist; the rest answer exception 2. */
  sparse?: boolean;
  /** Never answers. */
  dead?: boolean;
  delay_ms?: number;
  /** Count this unit's requests in max_concurrent. */
  watch?: boolean;
}

export interface Counts {
  /** Requests received, by unit id and function code. */
  requests: Record<string, Record<string, number>>;
  /** Most requests to watched units the server had in hand at once (1 when the client never overlaps them). */
  max_concurrent: number;
  /** Client connections open now, and ever opened. */
  connections: number;
  connects: number;
}

export interface PymodbusServer {
  /** TCP port, when serving TCP. */
  port: number;
  counts(): Promise<Counts>;
  reset(): Promise<void>;
  /** What the server holds at a place, decoded in Python (64-bit integers as decimal strings). */
  read(unit: number, where: Omit<KnownValue, 'value'>): Promise<unknown>;
  words(unit: number, table: Table, address: number, count: number): Promise<number[]>;
  stderr(): string;
  close(): Promise<void>;
}

export interface SerialOptions {
  path: string;
  baud?: number;
  parity?: 'N' | 'E' | 'O';
  stopbits?: 1 | 2;
  bytesize?: 7 | 8;
}

/** The venv's python; installs pymodbus on first use (scripts/pymodbus.sh), fails saying how to get it. */
export function pymodbusPython(): string {
  return peerPython('pymodbus');
}

const jsonValue = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

export async function startPymodbus(units: Record<number, UnitSpec>, over: { tcp: true } | { serial: SerialOptions }): Promise<PymodbusServer> {
  const python = pymodbusPython();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pymodbus-'));
  const spec = path.join(dir, 'spec.json');
  await writeFile(spec, JSON.stringify({ units }, jsonValue));
  const port = 'tcp' in over ? await freePort() : 0;
  const args = [path.join(REPO_ROOT, 'scripts', 'pymodbus-server.py'), '--spec', spec];
  if ('tcp' in over) args.push('--tcp', String(port));
  else {
    const s = over.serial;
    args.push('--serial', s.path, '--baud', String(s.baud ?? 9600), '--parity', s.parity ?? 'N', '--stopbits', String(s.stopbits ?? 1), '--bytesize', String(s.bytesize ?? 8));
  }
  const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const nextLine = (what: string, ms = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const queued = lines.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(() => reject(new Error(`pymodbus server: no answer to ${what} within ${ms} ms; stderr: ${stderr}`)), ms);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  // One command at a time: answers come back in order.
  let chain: Promise<unknown> = Promise.resolve();
  const command = <T>(cmd: Record<string, unknown>): Promise<T> => {
    const run = chain.then(async () => {
      child.stdin!.write(JSON.stringify(cmd, jsonValue) + '\n');
      const reply = JSON.parse(await nextLine(String(cmd.cmd))) as T & { error?: string };
      if (reply.error) throw new Error(`pymodbus server: ${reply.error}`);
      return reply;
    });
    chain = run.catch(() => undefined);
    return run;
  };

  const ready = await Promise.race([nextLine('start-up', 20_000), exited.then(() => '')]);
  if (!ready.includes('"ready"')) {
    child.kill('SIGKILL');
    throw new Error(`pymodbus server did not start: ${stderr}`);
  }
  let closing: Promise<void> | undefined;
  return {
    port,
    counts: () => command<Counts>({ cmd: 'counts' }),
    reset: () => command({ cmd: 'reset' }).then(() => undefined),
    read: (unit, where) => command<{ value: unknown }>({ cmd: 'read', unit, ...where }).then((r) => r.value),
    words: (unit, table, address, count) => command<{ words: number[] }>({ cmd: 'words', unit, table, address, count }).then((r) => r.words),
    stderr: () => stderr,
    close: () =>
      (closing ??= (async () => {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

export function requireSocat(): void {
  const r = spawnSync('socat', ['-V']);
  if (r.error) throw new Error('socat is missing: install it (apt-get install -y socat); the RTU tests make their serial line with it');
}

export interface SerialPair {
  /** The end the gateway opens. */
  driverSide: string;
  /** The end pymodbus serves on. */
  serverSide: string;
  close(): Promise<void>;
}

/** Two linked pseudo-terminals: a serial cable on one machine. */
export async function startSerialPair(): Promise<SerialPair> {
  requireSocat();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'serial-'));
  const driverSide = path.join(dir, 'gateway');
  const serverSide = path.join(dir, 'device');
  const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${driverSide}`, `pty,raw,echo=0,link=${serverSide}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(`socat to make ${driverSide} and ${serverSide} (${stderr})`, () => existsSync(driverSide) && existsSync(serverSide) && /starting data transfer loop/.test(stderr), 10_000, 20);
  return {
    driverSide,
    serverSide,
    close: async () => {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
