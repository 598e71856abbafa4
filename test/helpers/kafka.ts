/**
 * Real Apache Kafka broker (KRaft, single combined broker+controller node) for vitest tests.
 *
 * The broker runs as a plain Java process from jars that `scripts/kafka.sh fetch` resolves from
 * Maven Central into `.cache/kafka-<version>/libs` (done automatically on first use).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners, type IHeaders } from 'kafkajs';
import { registerKafkajsCodecs } from '../../src/uplink/kafka/kafkajs-codecs.js';
import { pemKeystore, type TestCerts } from './certs.js';
import { freePort } from './net.js';

export interface KafkaBroker {
  port: number;
  /** '127.0.0.1:PORT' */
  bootstrap: string;
  dataDir: string;
  /** broker stdout/stderr */
  logFile: string;
  /** SIGTERM, wait for exit (SIGKILL after 20 s). */
  stop(): Promise<void>;
  /** Start again on the same port and data dir, wait until ready. */
  start(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** '127.0.0.1:PORT' of each listener that `security` asked for. */
  listeners: { saslPlaintext?: string; ssl?: string; saslSsl?: string };
}

/** Listeners beside PLAINTEXT, which inter-broker traffic and the harness's own clients keep using. */
export interface KafkaSecurityOptions {
  /**
   * SASL users, known to PLAIN (the listener's JAAS config) and to SCRAM-SHA-256 and SCRAM-SHA-512 (credentials
   * written into the metadata log at storage format; names and passwords without `,`, `=`, `[`, `]` or quotes).
   * Adds a SASL_PLAINTEXT listener, and SASL_SSL with `certs`.
   */
  users?: Array<{ name: string; password: string }>;
  /** Server certificate and CA from makeTestCerts. Adds an SSL listener that requires a client certificate. */
  certs?: TestCerts;
  /**
   * OAUTHBEARER on the SASL_PLAINTEXT listener (added if `users` did not): tokens are JWTs checked against the
   * keys at `jwksUrl` (Kafka's own validator), with `audience` when given.
   */
  oauth?: { jwksUrl: string; audience?: string };
}

export interface ConsumedRecord {
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: string;
  /** The record's Kafka timestamp, ms since the epoch. */
  timestamp: number;
}

// The tests read what the gateway sends with kafkajs, through the codecs the gateway registers for it (zstd, client
// librdkafka's default; snappy).
registerKafkajsCodecs();

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KAFKA_SH = path.join(REPO_ROOT, 'scripts', 'kafka.sh');
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;
const READY_TOPIC = '__harness_ready';
const DATA_DIR_PREFIX = 'kafka-test-';

// ---------------------------------------------------------------------------------------------
// process bookkeeping: never leave a broker behind when the test process goes away

const liveChildren = new Set<ChildProcess>();
const dataDirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Data dirs are removed when the test process exits normally; vitest may end its workers with a signal,
 * so each dir also records its owner pid and dirs of dead owners are swept on the next start.
 */
function sweepStaleDataDirs(tmpRoot: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpRoot).filter((e) => e.startsWith(DATA_DIR_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = path.join(tmpRoot, entry);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      continue; // not ours or still being created
    }
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid) continue;
    try {
      process.kill(owner, 0);
      continue; // owner alive
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

function cleanupAll(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  if (process.env.KAFKA_KEEP_DATA) return;
  for (const dir of dataDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      /* best effort */
    }
  }
  dataDirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', cleanupAll);
  // vitest ends its fork workers with SIGTERM, which skips 'exit' handlers: clean up, then let the
  // signal take its default action unless someone else handles it.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupAll();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// environment

function findJava(): string {
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  candidates.push('/usr/lib/jvm/java-17-openjdk-amd64/bin/java');
  for (const c of candidates) if (existsSync(c)) return c;
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (!probe.error && probe.status === 0) return 'java';
  throw new Error(
    'Kafka test broker needs Java 17+, but no `java` was found (checked $JAVA_HOME, ' +
      '/usr/lib/jvm/java-17-openjdk-amd64 and PATH). Install it with ' +
      '`sudo apt-get install -y openjdk-17-jre-headless` (or set JAVA_HOME).',
  );
}

/** `setpriv --pdeathsig KILL` makes the kernel kill the broker if the spawning thread dies (even by SIGKILL). */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

let libsPromise: Promise<string> | undefined;

/** Runs `scripts/kafka.sh fetch` (a no-op when the jars are cached) and returns the libs dir. */
function ensureLibs(): Promise<string> {
  libsPromise ??= new Promise<string>((resolve, reject) => {
    execFile(
      'bash',
      [KAFKA_SH, 'fetch'],
      { cwd: REPO_ROOT, timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const libs = stdout.trim().split('\n').pop() ?? '';
        if (err || !libs || !existsSync(libs)) {
          reject(
            new Error(`scripts/kafka.sh fetch failed: ${err?.message ?? 'no libs dir printed'}\n${tail(stderr, 30)}`),
          );
          return;
        }
        resolve(libs);
      },
    );
  });
  libsPromise.catch(() => {
    libsPromise = undefined;
  });
  return libsPromise;
}

/** Kafka cluster id format (as `kafka-storage random-uuid`): base64url of 16 random bytes, no '-' first. */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines - 1).join('\n');
}

function readLogTail(logFile: string, lines = 30): string {
  try {
    return tail(readFileSync(logFile, 'utf8'), lines);
  } catch {
    return '(no broker log)';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ExtraListener {
  name: 'SASL_PLAINTEXT' | 'SSL' | 'SASL_SSL';
  port: number;
}

/** server.properties lines for the SASL and TLS listeners. */
function securityProperties(extra: ExtraListener[], security: KafkaSecurityOptions): string[] {
  const lines: string[] = [];
  const users = security.users ?? [];
  if (extra.some((l) => l.name.startsWith('SASL'))) {
    lines.push(`sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512${security.oauth ? ',OAUTHBEARER' : ''}`);
    if (security.oauth) {
      for (const l of extra.filter((x) => x.name.startsWith('SASL'))) {
        const prefix = `listener.name.${l.name.toLowerCase()}.oauthbearer`;
        lines.push(`${prefix}.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;`);
        lines.push(`${prefix}.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler`);
      }
      lines.push(`sasl.oauthbearer.jwks.endpoint.url=${security.oauth.jwksUrl}`);
      if (security.oauth.audience) lines.push(`sasl.oauthbearer.expected.audience=${security.oauth.audience}`);
    }
    const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const plainUsers = users.map((u) => `user_${u.name}=${quote(u.password)}`).join(' ');
    for (const l of extra.filter((x) => x.name.startsWith('SASL'))) {
      const prefix = `listener.name.${l.name.toLowerCase()}`;
      lines.push(`${prefix}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`);
      lines.push(`${prefix}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`);
      lines.push(`${prefix}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`);
    }
  }
  if (security.certs) {
    const keystore = pemKeystore(security.certs, 'server');
    for (const l of extra.filter((x) => x.name.endsWith('SSL'))) {
      const prefix = `listener.name.${l.name.toLowerCase()}`;
      lines.push(`${prefix}.ssl.keystore.type=PEM`, `${prefix}.ssl.keystore.location=${keystore}`);
      lines.push(`${prefix}.ssl.truststore.type=PEM`, `${prefix}.ssl.truststore.location=${security.certs.caFile}`);
      lines.push(`${prefix}.ssl.client.auth=${l.name === 'SSL' ? 'required' : 'none'}`);
    }
  }
  return lines;
}

function serverProperties(port: number, controllerPort: number, logDirs: string, advertisedPort = port, extra: ExtraListener[] = [], extraLines: string[] = []): string {
  const more = (f: (l: ExtraListener) => string) => extra.map((l) => `,${f(l)}`).join('');
  return [
    '# generated by test/helpers/kafka.ts',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${more((l) => `${l.name}://127.0.0.1:${l.port}`)}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${advertisedPort}${more((l) => `${l.name}://127.0.0.1:${l.port}`)}`,
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${more((l) => `${l.name}:${l.name}`)}`,
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `log.dirs=${logDirs}`,
    'num.partitions=3',
    'default.replication.factor=1',
    'auto.create.topics.enable=true',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    ...extraLines,
    '',
  ].join('\n');
}

function runToCompletion(cmd: string, args: string[], logFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logFile, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

// ---------------------------------------------------------------------------------------------

/** Waits until the broker answers an admin connection, can create a topic and accepts an acks=-1 write. */
async function waitUntilReady(bootstrap: string, isAlive: () => boolean, deadline: number): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error('broker process exited during startup');
    const kafka = new Kafka({
      clientId: 'kafka-harness-probe',
      brokers: [bootstrap],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: 5_000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    try {
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: READY_TOPIC, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
        timeout: 5_000,
      });
      const meta = await admin.fetchTopicMetadata({ topics: [READY_TOPIC] });
      const partitions = meta.topics[0]?.partitions ?? [];
      if (partitions.length === 0 || partitions.some((p) => p.leader < 0)) throw new Error('no partition leader yet');
      await producer.connect();
      await producer.send({ topic: READY_TOPIC, acks: -1, timeout: 5_000, messages: [{ value: 'ready' }] });
      // FindCoordinator creates/loads __consumer_offsets, so the first consumer group joins without retries.
      await admin.describeGroups(['__harness_ready_probe']);
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
    await sleep(250);
  }
  throw new Error(`broker not ready within ${READY_TIMEOUT_MS} ms: ${String((lastError as Error)?.message ?? lastError)}`);
}

export interface StartKafkaOptions {
  /** The port the broker listens on; a free one by default. */
  port?: number;
  /**
   * The port the broker advertises in its metadata (default: `port`). Clients follow the advertised address after
   * bootstrapping, so a TCP proxy only sits in their path when the broker advertises the proxy's port. Whatever
   * listens there must forward to `port` before startKafka is called: readiness is checked through it.
   */
  advertisedPort?: number;
  /** SASL (PLAIN, SCRAM-SHA-256/512) and TLS listeners beside PLAINTEXT. */
  security?: KafkaSecurityOptions;
}

export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  installExitHook();
  const java = findJava();
  const libs = await ensureLibs();
  const log4jConfig = path.join(path.dirname(libs), 'config', 'log4j2.properties');
  const classpath = path.join(libs, '*');

  const port = opts.port ?? (await freePort());
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();

  const tmpRoot = process.env.TMPDIR || os.tmpdir();
  sweepStaleDataDirs(tmpRoot);
  const dataDir = await mkdtemp(path.join(tmpRoot, DATA_DIR_PREFIX));
  dataDirs.add(dataDir);
  await writeFile(path.join(dataDir, 'owner.pid'), `${process.pid}\n`);
  const logDirs = path.join(dataDir, 'logs');
  const propsFile = path.join(dataDir, 'server.properties');
  const logFile = path.join(dataDir, 'broker.log');
  await mkdir(logDirs, { recursive: true });
  const security = opts.security ?? {};
  const extra: ExtraListener[] = [];
  const taken = new Set([port, controllerPort]);
  const newPort = async () => {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  };
  if (security.users?.length || security.oauth) extra.push({ name: 'SASL_PLAINTEXT', port: await newPort() });
  if (security.certs) extra.push({ name: 'SSL', port: await newPort() });
  if (security.certs && security.users?.length) extra.push({ name: 'SASL_SSL', port: await newPort() });
  await writeFile(
    propsFile,
    serverProperties(port, controllerPort, logDirs, opts.advertisedPort ?? port, extra, securityProperties(extra, security)),
  );
  const listeners: KafkaBroker['listeners'] = {};
  for (const l of extra) {
    const key = l.name === 'SASL_PLAINTEXT' ? 'saslPlaintext' : l.name === 'SSL' ? 'ssl' : 'saslSsl';
    listeners[key] = `127.0.0.1:${l.port}`;
  }
  const scram = (security.users ?? []).flatMap((u) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.name},password=${u.password}]`]),
  );

  // Kafka fetches keys only from URLs it is told to trust.
  const oauthUrls = security.oauth ? [`-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=${security.oauth.jwksUrl}`] : [];
  const jvmCommon = ['-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4jConfig}`, ...oauthUrls, '-cp', classpath];
  const formatCode = await runToCompletion(
    java,
    ['-Xmx256m', ...jvmCommon, 'kafka.tools.StorageTool', 'format', '-t', randomClusterId(), '-c', propsFile, ...scram],
    logFile,
  );
  if (formatCode !== 0) {
    throw new Error(`kafka storage format failed (exit ${formatCode}); ${logFile}:\n${readLogTail(logFile)}`);
  }

  const bootstrap = `127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    if (child) return;
    const fd = openSync(logFile, 'a');
    const javaArgs = ['-Xmx512m', '-Xms256m', '-XX:+UseG1GC', ...jvmCommon, 'kafka.Kafka', propsFile];
    const [cmd, args] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', java, ...javaArgs]]
      : [java, javaArgs];
    const proc = spawn(cmd, args, { cwd: dataDir, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child = proc;
    liveChildren.add(proc);
    let alive = true;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        alive = false;
        liveChildren.delete(proc);
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('error', () => {
        alive = false;
        liveChildren.delete(proc);
        if (child === proc) child = undefined;
        resolve();
      });
    });
    try {
      await waitUntilReady(bootstrap, () => alive, Date.now() + READY_TIMEOUT_MS);
    } catch (err) {
      if (alive) {
        proc.kill('SIGKILL');
        await exited;
      }
      throw new Error(
        `Kafka broker on ${bootstrap} failed to start: ${(err as Error).message}\n` +
          `--- last lines of ${logFile} ---\n${readLogTail(logFile)}`,
      );
    }
  };

  const terminate = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill(signal);
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      proc.kill('SIGKILL');
      await exited;
    }
  };

  await launch();

  return {
    port,
    bootstrap,
    dataDir,
    logFile,
    listeners,
    start: launch,
    stop: () => terminate('SIGTERM', STOP_GRACE_MS),
    kill: () => terminate('SIGKILL', 5_000),
  };
}

// ---------------------------------------------------------------------------------------------

function headerToString(v: IHeaders[string]): string {
  if (v === undefined) return '';
  const one = (x: Buffer | string) => (typeof x === 'string' ? x : x.toString('utf8'));
  return Array.isArray(v) ? v.map(one).join(',') : one(v);
}

/**
 * Reads `topic` from the beginning with a fresh consumer group until `expected` records arrived
 * or `timeoutMs` passed (then returns what it has). Records are sorted by partition, then offset.
 */
export async function consumeAll(
  bootstrap: string,
  topic: string,
  opts: { expected: number; timeoutMs: number },
): Promise<ConsumedRecord[]> {
  const kafka = new Kafka({ clientId: 'kafka-harness-consumer', brokers: [bootstrap], logLevel: logLevel.WARN });
  const consumer = kafka.consumer({
    groupId: `consume-all-${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 250,
  });
  const deadline = Date.now() + opts.timeoutMs;
  const records: ConsumedRecord[] = [];
  let done!: () => void;
  const enough = new Promise<void>((r) => (done = r));
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = headerToString(v);
        records.push({
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString('utf8'),
          headers,
          value: message.value === null ? '' : message.value.toString('utf8'),
          timestamp: Number(message.timestamp),
        });
        if (opts.expected > 0 && records.length >= opts.expected) done();
      },
    });
    await Promise.race([enough, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
  } finally {
    if (timer) clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  return records.sort((a, b) =>
    a.partition !== b.partition ? a.partition - b.partition : Number(BigInt(a.offset) - BigInt(b.offset)),
  );
}

/** Records in `topic` now (every partition's high watermark minus its low): what a full read must return. */
export async function topicSize(bootstrap: string, topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'kafka-harness-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}
