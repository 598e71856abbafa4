// Runs the built gateway as a real process, as systemd would, so tests can SIGTERM and SIGKILL it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from './cli.js';
import { freePort, waitFor } from './net.js';

export interface GatewayPorts {
  mqtt: number;
  http: number;
}

export interface GatewayProcessOptions {
  dir?: string;
  ports?: GatewayPorts;
  /** YAML for `devices:` and anything else, appended to the generated site/data_dir/broker/http keys. */
  extraYaml: string;
  embeddedBroker?: boolean;
  /** The whole `broker:` section as YAML, `broker:` line included, instead of the generated one-line section. */
  brokerYaml?: string;
  command?: 'run' | 'broker';
  /** Extra environment, e.g. NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them. */
  env?: Record<string, string>;
  /**
   * Like systemd's journal stream: stdout and stderr go straight to the log file, and JOURNAL_STREAM names
   * that file's device:inode, so the gateway writes journald's `<N>` severity prefixes.
   */
  journalStream?: boolean;
  /** Leave `buffer.commit_interval` at its default instead of the tests' 200 ms. */
  defaultCommitInterval?: boolean;
}

/**
 * Test gateways commit within 200 ms, as a busy site's gateway does once 256 samples wait: their few tags would
 * otherwise wait out the default commit interval before Kafka sees anything. The default's own behaviour is
 * tested in src/uplink/journal.test.ts and test/commit-interval.test.ts. Returns the YAML lines to write: the
 * test's own, with `commit_interval` added to its `buffer:` section, or a `buffer:` line ahead of them.
 */
export function withTestCommitInterval(yaml: string, interval = '200ms'): string[] {
  if (/^\s*commit_interval:/m.test(yaml) || /[{,]\s*commit_interval:/.test(yaml)) return [yaml];
  if (/^buffer:\s*\{/m.test(yaml)) return [yaml.replace(/^buffer:\s*\{/m, `buffer: { commit_interval: ${interval},`)];
  if (/^buffer:\s*$/m.test(yaml)) return [yaml.replace(/^buffer:\s*\n(\s+)/m, (_all, indent: string) => `buffer:\n${indent}commit_interval: ${interval}\n${indent}`)];
  return [`buffer: { commit_interval: ${interval} }`, yaml];
}

/** What systemd hands a service; never inherited by a test's gateway from whatever runs the tests. */
const SYSTEMD_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM', 'INVOCATION_ID'];

export class GatewayProcess {
  child: ChildProcess | undefined;
  readonly logFile: string;
  readonly configFile: string;

  private env: Record<string, string> = {};
  private journalStream = false;
  /** Resolves once the running process exited and its output is all in the log file. */
  private ended: Promise<void> = Promise.resolve();

  private constructor(readonly dir: string, readonly ports: GatewayPorts, private readonly command: string) {
    this.logFile = join(dir, `${command}.log`);
    this.configFile = join(dir, 'gateway.yaml');
  }

  static async create(o: GatewayProcessOptions): Promise<GatewayProcess> {
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'edge-gw-'));
    const ports = o.ports ?? { mqtt: await freePort(), http: await freePort() };
    const g = new GatewayProcess(dir, ports, o.command ?? 'run');
    g.env = o.env ?? {};
    g.journalStream = o.journalStream ?? false;
    writeFileSync(
      g.configFile,
      [
        'site: { group: test-plant, node: gw-test }',
        `data_dir: ${join(dir, 'data')}`,
        o.brokerYaml ?? `broker: { listen: 127.0.0.1:${ports.mqtt}, embedded: ${o.embeddedBroker ?? true} }`,
        `http: { listen: 127.0.0.1:${ports.http} }`,
        ...(o.defaultCommitInterval ? [o.extraYaml] : withTestCommitInterval(o.extraYaml)),
      ].join('\n'),
    );
    return g;
  }

  get statusUrl(): string {
    return this.url('/api/status');
  }

  /** A path on the gateway's HTTP server (http.listen). */
  url(path: string): string {
    return `http://127.0.0.1:${this.ports.http}${path}`;
  }

  /**
   * Starts the process and waits until its status API answers, or with `until: 'http'` only until its HTTP
   * server answers /healthz (a gateway that waits for disk space answers /healthz but not yet /api/status).
   */
  async start(opts: { until?: 'status' | 'http' } = {}): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of SYSTEMD_ENV) delete env[name];
    Object.assign(env, this.env);
    let child: ChildProcess;
    if (this.journalStream) {
      const fd = openSync(this.logFile, 'a');
      const st = statSync(this.logFile, { bigint: true });
      env.JOURNAL_STREAM = `${st.dev}:${st.ino}`;
      child = spawn(process.execPath, [CLI, this.command, '--config', this.configFile], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      this.ended = new Promise<void>((resolve) => child.once('close', () => resolve()));
    } else {
      const log = createWriteStream(this.logFile, { flags: 'a' });
      child = spawn(process.execPath, [CLI, this.command, '--config', this.configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      // Both streams into one file, which is ended once both are drained (after 'close'), so that the log is
      // complete when stop() or kill() returns.
      child.stdout!.pipe(log, { end: false });
      child.stderr!.pipe(log, { end: false });
      this.ended = new Promise<void>((resolve) => child.once('close', () => log.end(() => resolve())));
    }
    this.child = child;
    track(child);
    if (this.command === 'broker') {
      await waitFor('the broker to listen', () => this.logs().includes('Local MQTT broker listening'), 20_000);
      return;
    }
    const url = opts.until === 'http' ? this.url('/healthz') : this.statusUrl;
    await waitFor(`the gateway at ${url} (log: ${this.logFile})`, async () => {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${this.logs().slice(-2000)}`);
      const res = await fetch(url);
      return res.ok;
    }, 30_000);
  }

  async status(): Promise<any> {
    const res = await fetch(this.statusUrl);
    return res.json();
  }

  /**
   * Waits until the status API shows `value` as the latest poll of a device's tag: that poll was made, and what it
   * changed is captured (journaled and handed to the Sparkplug node). A test that changes a PLC value again only
   * after this never has two changes fall between two polls of a slow machine.
   */
  async waitForTag(device: string, tag: string, value: unknown, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${device}/${tag} = ${String(value)} in ${this.statusUrl}`, async () => {
      const d = ((await this.status()).devices as Array<{ name: string; tags: Array<{ name: string; value: unknown }> }>).find((x) => x.name === device);
      return d?.tags.some((t) => t.name === tag && t.value === value) ?? false;
    }, timeoutMs, 20);
  }

  /** SIGTERM and wait for the orderly shutdown. */
  async stop(): Promise<number | null> {
    return this.signal('SIGTERM', 20_000);
  }

  /** SIGKILL: a crash, no clean-up of any kind. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL', 5_000);
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * The JSON log lines, without journald's `<N>` prefixes when there are any. A line still being written (no
   * newline yet) is left for the next call.
   */
  logLines(): Array<Record<string, any>> {
    const text = this.logs();
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .map((l) => l.replace(/^<[0-7]>/, ''))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }

  /** Waits for the exit and for the last of the process's output to reach the log file. */
  private async signal(signal: NodeJS.Signals, timeoutMs: number): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      await this.ended;
      return child?.exitCode ?? null;
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    await this.ended;
    return code;
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}
