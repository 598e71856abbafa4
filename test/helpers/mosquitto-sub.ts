// Debian's mosquitto_sub as an independent MQTT peer: what any HMI on the site network would see.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { decodePayload, encodePayload, type DecodedPayload, type EncodeOptions, type Payload } from '../../src/edge/sparkplug/codec.js';
import { waitFor } from './net.js';

export interface SeenMessage {
  topic: string;
  payload: DecodedPayload;
  /** A STATE message's JSON text (its payload is not Sparkplug protobuf). */
  text?: string;
  at: number;
}

export function requireMosquittoClients(): void {
  const r = spawnSync('mosquitto_sub', ['--help']);
  if (r.error) throw new Error('mosquitto_sub is missing: install Debian\'s mosquitto clients (apt-get install -y mosquitto-clients)');
}

export class MosquittoSub {
  readonly messages: SeenMessage[] = [];
  private child: ChildProcess | undefined;
  private subscribed = false;
  stderr = '';

  /** `args`: more mosquitto_sub options, e.g. `-u NAME -P PASSWORD` or `--cafile ca.pem`. */
  constructor(private readonly port: number, private readonly topic = 'spBv1.0/#', private readonly args: string[] = []) {}

  /** Subscribes and resolves once the subscription is in place (mosquitto_sub -d prints SUBACK). */
  async start(): Promise<void> {
    requireMosquittoClients();
    // %t topic, %x payload as hex: binary protobuf survives the pipe.
    // stdbuf: line-buffered stdout, so the SUBACK and each message reach us as they happen.
    const child = spawn('stdbuf', ['-oL', 'mosquitto_sub','-h', '127.0.0.1', '-p', String(this.port), '-q', '1', '-t', this.topic, '-F', '%t %x', '-d', '-i', `test-sub-${process.pid}-${Date.now()}`, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line.trim()));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    await waitFor('mosquitto_sub to subscribe', () => this.subscribed || this.stderr.includes('SUBACK'), 10_000, 20);
  }

  private onLine(line: string): void {
    const m = /^(spBv1\.0\/\S+) ([0-9a-f]*)$/.exec(line);
    if (!m) {
      if (line.includes('received SUBACK')) this.subscribed = true; // -d debug lines
      return;
    }
    const bytes = Buffer.from(m[2]!, 'hex');
    if (m[1]!.startsWith('spBv1.0/STATE/')) this.messages.push({ topic: m[1]!, payload: { timestamp: 0, metrics: [] }, text: bytes.toString('utf8'), at: Date.now() });
    else this.messages.push({ topic: m[1]!, payload: decodePayload(bytes), at: Date.now() });
  }

  verbs(): string[] {
    return this.messages.map((m) => m.topic.split('/')[2]!);
  }

  async waitForCount(pred: (m: SeenMessage) => boolean, n: number, timeoutMs = 20_000): Promise<SeenMessage[]> {
    return waitFor(`${n} matching MQTT messages (seen: ${this.messages.map((m) => m.topic).join(', ')})`, () => {
      const seen = this.messages.filter(pred);
      return seen.length >= n ? seen : undefined;
    }, timeoutMs, 20);
  }

  stop(): void {
    this.child?.kill('SIGTERM');
  }
}

/** mosquitto_sub that expects one message (exit 0) or a refusal, within a few seconds; `args`: a login, TLS. */
export function mosquittoSubOnce(port: number, args: string[], topic = 'spBv1.0/#'): { status: number | null; output: string } {
  requireMosquittoClients();
  const r = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-C', '1', '-W', '4', ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * Runs mosquitto_pub without blocking this process's event loop: the simulated PLCs and brokers of a test live in
 * it, and a spawnSync that waits on a loaded machine would let a gateway's poll time out (a stale DDATA that no
 * product fault caused). Resolves with the exit status.
 */
function runPub(args: string[], input?: Buffer): Promise<number | null> {
  requireMosquittoClients();
  return new Promise((resolve, reject) => {
    const child = spawn('mosquitto_pub', args, { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 && stderr) console.error(`mosquitto_pub ${args.join(' ')}: ${stderr.trim()}`);
      resolve(code);
    });
    if (input) {
      child.stdin!.on('error', () => undefined); // a mosquitto_pub that failed early reads nothing: its exit status says why
      child.stdin!.end(input);
    }
  });
}

/**
 * Debian's mosquitto_pub sends one Sparkplug payload at QoS 1, as a host application's command would arrive;
 * with `seq`, as an edge node's message would; `args` adds mosquitto_pub options (a login, TLS).
 */
export function mosquittoPub(port: number, topic: string, metrics: Payload['metrics'], opts: EncodeOptions & { seq?: number } = {}, args: string[] = []): Promise<number | null> {
  const payload = Buffer.from(encodePayload({ timestamp: Date.now(), seq: opts.seq, metrics }, opts));
  return runPub(['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-s', ...args], payload);
}

/** Debian's mosquitto_pub sends a text message at QoS 1, as a local device would; `retain` keeps it on the broker. */
export function mosquittoPubText(port: number, topic: string, text: string, opts: { retain?: boolean } = {}): Promise<number | null> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-m', text];
  if (opts.retain) args.push('-r');
  return runPub(args);
}
