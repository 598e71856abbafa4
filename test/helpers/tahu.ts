// Eclipse Tahu's Sparkplug B host application (Java, scripts/tahu.sh) as an independent peer: its JSON events.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from './cli.js';
import { track } from './gateway.js';
import { waitFor } from './net.js';

/** One line of the harness (test/tahu): `event` is NBIRTH, DBIRTH, NDATA, DDATA, NDEATH, DDEATH, data, … */
export interface TahuEvent {
  event: string;
  at: number;
  group?: string;
  node?: string;
  device?: string;
  seq?: number;
  bdSeq?: number;
  metric?: { name: string; alias?: number; type: string; value: unknown };
  level?: string;
  kind?: string;
  message?: string;
  topic?: string;
  [key: string]: unknown;
}

export class TahuHost {
  readonly events: TahuEvent[] = [];
  stderr = '';
  private child: ChildProcess | undefined;

  constructor(private readonly o: { port: number; hostId?: string }) {}

  /** Builds the harness if needed (scripts/tahu.sh), starts it and waits until Tahu is connected and subscribed. */
  async start(): Promise<void> {
    const args = [join(ROOT, 'scripts/tahu.sh'), 'run', '--url', `tcp://127.0.0.1:${this.o.port}`, '--exit-on-stdin-eof'];
    if (this.o.hostId) args.push('--host-id', this.o.hostId);
    const child = spawn('bash', args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    track(child);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) this.events.push(JSON.parse(line) as TahuEvent);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-20_000)));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`the Tahu harness exited with ${code} (it needs java, javac and maven: apt-get install openjdk-17-jdk-headless maven; then scripts/tahu.sh fetch): ${this.stderr.slice(-2000)}`)),
      ),
    );
    exited.catch(() => undefined); // a later exit (stop) is not an error
    // The first build resolves Tahu from Maven Central: allow for it.
    await Promise.race([exited, waitFor('the Tahu host application to connect', () => this.events.some((e) => e.event === 'connected'), 150_000, 50)]);
  }

  /** Everything Tahu reported, one JSON line each, kept as a test artifact. */
  save(file: string): void {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, this.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  }

  of(event: string, where: { node?: string; device?: string } = {}): TahuEvent[] {
    return this.events.filter((e) => e.event === event && (where.node === undefined || e.node === where.node) && (where.device === undefined || e.device === where.device));
  }

  /** Waits until Tahu has reported `n` events matching `pred`; returns them. */
  async waitForCount(what: string, pred: (e: TahuEvent) => boolean, n: number, timeoutMs = 30_000): Promise<TahuEvent[]> {
    return waitFor(`Tahu to report ${n} × ${what} (last events: ${this.events.slice(-8).map((e) => e.event + (e.device ? `/${e.device}` : '')).join(', ')})`, () => {
      const seen = this.events.filter(pred);
      return seen.length >= n ? seen : undefined;
    }, timeoutMs, 50);
  }

  /** SIGTERM: Tahu shuts down (offline STATE) and the harness reports "stopped". */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
