// A stand-in for systemd's notify socket: python3 binds a unix datagram socket (Node cannot) and records every
// datagram with its send time (the kernel's timestamp) and the sender's PID (SCM_CREDENTIALS, as systemd reads it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';
import { track } from './gateway.js';
import { waitFor } from './net.js';

export interface NotifyMessage {
  /** When it was sent (the kernel's timestamp of the datagram), ms since the epoch (comparable with pino's `time`). */
  t: number;
  pid: number | null;
  fields: Record<string, string>;
}

export class FakeNotifySocket {
  private constructor(readonly path: string, private readonly file: string, private readonly child: ChildProcess) {}

  /** Binds `<dir>/notify` and records into `<dir>/notify.jsonl`. */
  static async start(dir: string): Promise<FakeNotifySocket> {
    if (spawnSync('python3', ['--version']).error) {
      throw new Error('python3 is needed for the fake systemd notify socket: apt-get install python3');
    }
    const path = join(dir, 'notify');
    const file = join(dir, 'notify.jsonl');
    const child = spawn('python3', [join(ROOT, 'test/helpers/notify-receiver.py'), path, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    await waitFor('the fake notify socket to listen', () => {
      if (child.exitCode !== null) throw new Error(`notify-receiver.py exited: ${output}`);
      return output.includes('listening');
    }, 10_000, 20);
    return new FakeNotifySocket(path, file, child);
  }

  messages(): NotifyMessage[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as NotifyMessage);
  }

  /** Messages that carry `field` (with `value`, when given). */
  with(field: string, value?: string, since = 0): NotifyMessage[] {
    return this.messages().filter((m) => m.t >= since && field in m.fields && (value === undefined || m.fields[field] === value));
  }

  waitFor(what: string, field: string, value?: string, since = 0, timeoutMs = 20_000): Promise<NotifyMessage> {
    return waitFor(what, () => this.with(field, value, since)[0], timeoutMs, 20);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** The largest pause between consecutive WATCHDOG=1 messages in [from, to], edges included. */
export function longestWatchdogSilence(messages: NotifyMessage[], from: number, to: number): number {
  const times = [from, ...messages.filter((m) => m.fields.WATCHDOG === '1' && m.t > from && m.t < to).map((m) => m.t), to];
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}
