// Start-up and orderly shutdown of the whole gateway: drivers → edge → journal → Kafka, plus the local broker
// and the status API.
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createDriver } from '../../drivers/registry.js';
import type { Driver } from '../../drivers/types.js';
import { Forwarder } from '../../uplink/forwarder.js';
import { openJournalWhenPossible, type Journal, type JournalProgress } from '../../uplink/journal/journal.js';
import { applyBound, prune, startHousekeeping, type BoundSource } from '../../uplink/journal/housekeeping.js';
import { capacityHours, resolveJournalBound, type ResolvedBound } from '../../uplink/journal/capacity.js';
import { permanentKafkaError } from '../../uplink/kafka/errors.js';
import { createKafkaSink } from '../../uplink/kafka/kafkajs-sink.js';
import type { UplinkSink } from '../../uplink/sink.js';
import { chooseClient } from '../../uplink/kafka/client-choice.js';
import { createLibrdkafkaSink } from '../../uplink/kafka/librdkafka-sink.js';
import { brokerUrlOf, startBroker, type BrokerStats, type LocalBroker } from '../broker/server.js';
import { readSecret } from '../config/secrets.js';
import { nodeLogin } from '../broker/auth.js';
import { brokerInPlace, brokerRestartKeys, brokerRestartMessage, brokerSecurityChanged } from '../broker/reload.js';
import type { DeviceConfig, GatewayConfig } from '../config/schema.js';
import { startHttp, type HttpServer } from '../http/server.js';
import { HttpAccess, type HttpAccessStats } from '../http/auth.js';
import { createMetrics } from '../http/metrics.js';
import { capacityText } from '../capacity-text.js';
import type { Sample } from '../../drivers/types.js';
import { gapJournalEntry, toJournalEntry } from '../journal-record.js';
import { Poller, type PollerProgress } from '../poller.js';
import { scheduleFor } from '../schedule.js';
import { sparkplugTypeOf } from '../sparkplug/datatypes.js';
import { AliasTable } from '../sparkplug/aliases.js';
import { EdgeNode } from '../sparkplug/edge-node.js';
import { readiness, type Readiness, type ReadinessCheck } from '../http/status-page/health.js';
import { StatusHistory } from '../http/status-page/history.js';
import { statusRoutes, type StatusSources } from '../http/status-page/routes.js';
import { DeviceTagModel, tagModelSettings, type TagDef } from '../tag-model.js';

export interface Gateway {
  status(): GatewayStatus;
  /** Applies a new, already validated config with the least disruption; see `planReload`. */
  reload(next: GatewayConfig): Promise<ReloadOutcome>;
  /** Cheap counters for the systemd watchdog (systemd-watchdog.ts): is capture and polling moving? */
  progress(): GatewayProgress;
  stop(): Promise<void>;
  readonly broker: LocalBroker | undefined;
  readonly http: HttpServer;
  readonly edge: EdgeNode;
  readonly journal: Journal;
}

export interface GatewayStatus {
  site: { group: string; node: string };
  startedAt: string;
  /** The gateway's clock when it answered (a laptop's clock may differ). */
  now: string;
  ready: Readiness;
  devices: Array<{
    name: string; driver: string; state: string; lastPollAt: string | null; lastError: string | null; polls: number; errors: number;
    /** The latest polled value of every tag; quality `stale` while the device does not answer. */
    tags: Array<{ name: string; value: Sample['value']; quality: Sample['quality']; timestamp: string }>;
    /** The driver's own event counts since start, when it keeps any (mqtt-json: messages, invalid_json, …). */
    counters?: Readonly<Record<string, number>>;
  }>;
  journal: {
    records: number; bytes: number; fileBytes: number; oldestAgeMs: number | null; nextSeq: number; dropped: Record<string, number>; quarantined: string | null;
    /** Set when the journal found at start that its file or WAL had lost records: why, and the seqs announced. */
    damaged: { why: string; count: number; ranges: Array<[number, number]> } | null;
    /** Records found altered in the file since start (checksum mismatch), set aside and announced. */
    checksumMismatches: number;
    /** Messages captured since start, and per second over the last minute. */
    captured: number; captureRate: number;
    /** Messages published and waiting for their group commit (buffer.commit_interval), and when it is due. */
    waiting: number; commitDueAt: string | null;
    /** Set while the journal's writes fail (disk full, I/O errors). */
    writeError: string | null;
    /** The bound on `bytes` in force; with buffer.max_bytes a share (percent), that share of `roomBytes`. */
    maxBytes: number | null; maxBytesPercent: number | null;
    /** Space free to the gateway on data_dir's file system plus the journal files' size, when last measured. */
    roomBytes: number | null;
    /** Samples captured per second over the last minute, and the journal's bytes per sample since start. */
    samplesPerSec: number; bytesPerSample: number | null;
    /** Hours the bound holds at that rate (null while either figure is not known), and the same as a sentence. */
    capacityHours: number | null; capacity: string;
  };
  uplink: {
    state: string; since: string | null; target: string | null; forwarded: number; deadLettered: number; lastAckAt: string | null; lastError: string | null;
    /** Records acknowledged per second over the last minute; capture-to-acknowledgement time of the last batch's newest record. */
    throughput: number; lastLatencyMs: number | null;
    /** The Kafka client and the compression it sends; bytes sent on the wire since start, and per sample forwarded. */
    client: string | null; compression: string | null; wireBytes: number; wireBytesPerSample: number | null;
  };
  sparkplug: ReturnType<EdgeNode['status']> & { brokerClients: number | null };
  /** The embedded broker's refusals and denials; null when the broker runs elsewhere. */
  broker: BrokerStats | null;
  /** Status page logins refused (http.users); null when anyone may read it. */
  http: HttpAccessStats | null;
}

export interface GatewayProgress {
  journal: JournalProgress;
  devices: Array<{ name: string } & PollerProgress>;
}

export interface GatewayHooks {
  /** Start-up waits for something that may take long (a full disk), so a service manager can wait too. */
  waiting?(reason: string): void;
}

export async function startGateway(config: GatewayConfig, log: Logger, hooks: GatewayHooks = {}): Promise<Gateway> {
  const startedAt = new Date();
  let current = config;
  const dataDir = resolve(config.data_dir);
  const { group, node } = config.site;

  // The status page and the probes answer from the very start, so that a gateway waiting for disk space says so.
  const life: { phase: string | undefined; journalError: string | undefined } = { phase: 'starting: opening the journal', journalError: undefined };
  const checks: ReadinessCheck[] = [() => life.phase, () => life.journalError];
  const history = new StatusHistory();
  const sources: StatusSources = { readiness: () => readiness(checks), status: undefined, metrics: undefined, history: () => ({ intervalMs: history.intervalMs, points: history.points() }) };
  // With http.users, everything but the health checks asks for a login.
  const httpAccess = config.http.users ? new HttpAccess(config.http.users, log) : undefined;
  const http = await startHttp(config.http.listen, statusRoutes(sources), log, { access: httpAccess, open: ['/healthz', '/readyz'] });

  const journalFile = join(dataDir, 'journal.db');
  // buffer.max_bytes may be a share of the disk: measured now, at every prune, and at a reload that changes it.
  let bound: ResolvedBound = resolveJournalBound(config.buffer.max_bytes, dataDir, journalFile);
  const boundSource: BoundSource = { bound: () => current.buffer.max_bytes, dataDir, journalFile, resolved: (r) => (bound = r) };
  const { journal, quarantined, damaged } = await openJournalWhenPossible(journalFile, {
    sync: config.buffer.sync,
    commitIntervalMs: config.buffer.commit_interval,
    maxBytes: bound.maxBytes,
    whenFull: config.buffer.when_full,
    onWriteError: (err, failing) => {
      life.journalError = failing ? `the journal cannot write to ${dataDir} (${err?.message ?? 'unknown error'}); captured messages wait in memory` : undefined;
      if (failing) log.error({ err: err?.message }, 'The journal cannot write (disk full?); messages wait in memory and capture resumes when it can.');
      else log.info('The journal writes again.');
    },
    onCorrupt: (why) => {
      // The next open sets the file aside (marked by the check) and continues above every seq it held.
      log.error({ err: why, dataDir }, 'The journal file is corrupt (SQLite\'s check of it failed); the gateway restarts to set it aside.');
      process.kill(process.pid, 'SIGTERM');
    },
    gapEntry: (gap) => {
      log.error({ ...gap }, `Journal dropped ${gap.count} records (edge.seq ${gap.from}..${gap.to}, ${gap.reason}); a gap record tells the cloud.`);
      return gapJournalEntry(group, node, gap);
    },
  }, (err) => {
    life.phase = `starting: the journal cannot be opened in ${dataDir}: the disk is full (${err.message}); waiting for space`;
    log.error({ err: err.message, dataDir }, 'The journal cannot be opened: the disk is full. Waiting for space; nothing else starts until then.');
    hooks.waiting?.('the journal waits for disk space');
  });
  life.phase = 'starting: the local MQTT broker and the Sparkplug session';
  if (quarantined) {
    log.error({ ...quarantined }, `The journal file was corrupt: moved to ${quarantined.movedTo}; a fresh journal continues above edge.seq ${quarantined.to}.`);
  }
  if (damaged) {
    log.error({ why: damaged.why, count: damaged.count, ranges: damaged.ranges.slice(0, 20) }, `The journal lost records to damage SQLite did not report (${damaged.why}); edge.seq continues above every seq it could have used, and a gap record names the ${damaged.count} that will not arrive.`);
  }
  // Measured again: opening may have waited long for space, and the journal's files now exist.
  applyBound(journal, boundSource, log);
  log.info({ dataDir, backlog: journal.stats().records, nextSeq: journal.stats().nextSeq, maxBytes: bound.maxBytes }, 'Journal open.');

  // The edge node logs in like any client: to the embedded broker by a credential made now, else as broker.node_user.
  const login = nodeLogin(config.broker);
  const broker = config.broker.embedded ? await startBroker(config.broker.listen, log, { security: config.broker, node: { group, node, login } }) : undefined;
  const brokerUrl = broker?.url ?? brokerUrlOf(config.broker.listen);
  if (broker) checks.push(() => (broker.listening() ? undefined : `the embedded MQTT broker does not listen on ${config.broker.listen.host}:${config.broker.listen.port} (broker.listen)`));

  /** One configured device: its driver and poll loop (the loop's handlers hold its tag model). Replaced as a whole when its config changes. */
  interface DeviceRuntime {
    config: DeviceConfig;
    driver: Driver;
    poller: Poller;
  }
  const devices = new Map<string, DeviceRuntime>();
  const tagDefsOf = (device: DeviceConfig): TagDef[] => device.tags.map((t) => ({ name: t.name, datatype: sparkplugTypeOf(t.type, t.scale, t.offset), writable: t.writable, ...(t.unit === undefined ? {} : { unit: t.unit }), ...tagModelSettings(device, t) }));
  const allDefs = (list: readonly DeviceConfig[]) => new Map(list.map((d) => [d.name, tagDefsOf(d)]));
  const aliasesFor = (c: GatewayConfig) => (c.sparkplug.aliases ? AliasTable.open(join(dataDir, 'aliases.json'), allDefs(c.devices)) : undefined);

  // Reads `status` at scrape time; defined below.
  const metrics = createMetrics(() => status());

  const edge = new EdgeNode({
    group,
    node,
    servers: config.sparkplug.servers?.map(brokerUrlOf) ?? [brokerUrl],
    username: login?.username,
    // The broker in its own process: node_user's password is read again before every connection, so a changed
    // password file is picked up without a restart.
    password: config.broker.embedded || !login ? login?.password : () => nodeLogin(config.broker)!.password,
    bdSeqFile: join(dataDir, 'bdseq'),
    devices: allDefs(config.devices),
    aliases: aliasesFor(config),
    primaryHost: config.sparkplug.primary_host,
    holdMax: config.sparkplug.hold_max,
    heldFile: join(dataDir, 'held.db'),
    log,
    // A message is handed to the journal's group commit, then published on MQTT at once: what a local HMI sees
    // never waits for the commit interval. It counts as captured when its transaction commits.
    capture: (message, publish) => {
      journal.enqueue(toJournalEntry(group, node, message), () => metrics.captured(message.payload.metrics.length));
      queueMicrotask(publish);
    },
    write: async (device, tag, value) => {
      const driver = devices.get(device)?.driver;
      if (!driver?.write) throw new Error(`device "${device}" cannot be written to`);
      await driver.write(tag, value);
    },
  });
  edge.start();
  // Give the session a moment, so that a normal start reads NBIRTH, DBIRTH, DDATA in MQTT and in Kafka alike;
  // a broker that is not there does not hold up polling and journaling.
  if (!(await edge.waitOnline(3000))) log.warn({ broker: edge.status().server }, 'The MQTT broker is not reachable yet; polling and journaling start anyway.');

  const latest = new Map<string, Sample[]>();
  const startDevice = (device: DeviceConfig) => {
    const model = new DeviceTagModel(tagDefsOf(device));
    const driver = createDriver(device, { log: log.child({ device: device.name }), siteBrokerUrl: brokerUrl, readSecret });
    const poller = new Poller(device.name, driver, { schedule: scheduleFor(typeof device.poll === 'number' ? { kind: 'interval', ms: device.poll } : device.poll), timeoutMs: device.timeout, downAfter: 'down_after' in device ? device.down_after : undefined }, {
      samples: (samples) => {
        latest.set(device.name, samples);
        if (!edge.isOnline(device.name)) edge.deviceOnline(device.name, model.birth(samples));
        else edge.deviceData(device.name, model.changes(samples));
      },
      // Missed polls before the device is declared down: its values go out again, marked stale.
      missed: () => edge.deviceData(device.name, model.stale(Date.now())),
      down: () => {
        edge.deviceOffline(device.name);
        model.reset();
      },
    }, log);
    devices.set(device.name, { config: device, driver, poller });
    poller.start();
  };
  /** Stops a device's poll loop and closes its driver; the node announces it dead (DDEATH). */
  const stopDevice = async (name: string) => {
    const d = devices.get(name);
    if (!d) return;
    devices.delete(name);
    await d.poller.stop();
    edge.deviceOffline(name);
    latest.delete(name);
  };
  for (const device of config.devices) startDevice(device);

  let uplinkSink: UplinkSink | undefined;
  /** Said once: the native client would have been the default but is not built here. */
  let fallbackLogged = false;
  const startUplink = (c: GatewayConfig): Forwarder | undefined => {
    const kafka = c.uplink.kafka;
    if (!kafka) {
      log.warn('No uplink configured: the journal keeps everything until one is.');
      // What waits for an uplink that does not exist yet is held back like an outage's backlog: historical once sent.
      journal.setHeldBack(true);
      return undefined;
    }
    const clientId = `edge-gateway-${group}-${node}`;
    const choice = chooseClient(kafka);
    if (kafka.client === undefined && choice.unavailable && !fallbackLogged) {
      fallbackLogged = true;
      log.warn({ err: choice.unavailable }, 'The native Kafka client (librdkafka) is not available here; the uplink runs on kafkajs. Set uplink.kafka.client to choose.');
    }
    // The uplink reads its SASL secret through the edge's secrets (password_file, password_env) when it connects.
    const secret = () => readSecret(kafka.sasl ?? {}, 'uplink.kafka.sasl');
    const sink = choice.client === 'librdkafka' ? createLibrdkafkaSink(kafka, clientId, log, secret) : createKafkaSink(kafka, clientId, log, secret);
    log.info({ client: sink.client, compression: sink.compression, uplink: sink.target }, `Uplink through ${sink.client}, ${sink.compression === 'none' ? 'uncompressed' : `compressed with ${sink.compression}`}.`);
    uplinkSink = sink;
    const f = new Forwarder(journal, sink, { node: `${group}/${node}`, batchSize: kafka.batch_size, replay: c.buffer.replay, replayRate: c.buffer.replay_rate, isPermanent: permanentKafkaError, onAcked: (batch) => metrics.forwarded(batch, Date.now()) }, log);
    f.start();
    return f;
  };
  let forwarder = startUplink(config);

  // One history sample now and one per interval: the status page's chart of the last hour.
  const historySample = (j = journal.stats()) => ({ t: Date.now(), records: j.records, captured: metrics.messagesCaptured(), samples: metrics.samplesCaptured(), forwarded: forwarder?.getStatus().forwarded ?? 0 });
  history.add(historySample());
  const historyTimer = setInterval(() => history.add(historySample()), history.intervalMs).unref();

  const capacityOf = (maxBytes: number | null, bytesPerSample: number | null, samplesPerSec: number) => {
    const setting = current.buffer.max_bytes;
    const hours = maxBytes !== null && bytesPerSample !== null ? capacityHours(maxBytes, bytesPerSample, samplesPerSec) : null;
    return {
      maxBytes, maxBytesPercent: typeof setting === 'number' ? null : setting.percent, roomBytes: bound.room,
      samplesPerSec, bytesPerSample, capacityHours: hours, capacity: capacityText(hours, samplesPerSec),
    };
  };

  /** The running uplink's client, and its bytes on the wire per sample it forwarded (both start again at a reload). */
  const wire = (samples: number) => {
    const bytes = uplinkSink?.wireBytes() ?? 0;
    return { client: uplinkSink?.client ?? null, compression: uplinkSink?.compression ?? null, wireBytes: bytes, wireBytesPerSample: samples > 0 ? bytes / samples : null };
  };

  const status = (): GatewayStatus => {
    const j = journal.stats();
    const f = forwarder?.getStatus();
    const now = historySample(j);
    const rates = history.ratesAt(now);
    return {
      site: { group, node },
      startedAt: startedAt.toISOString(),
      now: new Date(now.t).toISOString(),
      ready: readiness(checks),
      devices: [...devices.values()].map(({ poller: p, config: device }) => {
        const s = p.status();
        const tags = (latest.get(p.device) ?? []).map((t) => ({ name: t.tag, value: t.value, quality: s.state === 'up' ? t.quality : 'stale' as const, timestamp: new Date(t.timestamp).toISOString() }));
        const counters = devices.get(p.device)!.driver.counters?.();
        return { name: p.device, driver: device.driver, state: s.state, lastPollAt: iso(s.lastPollAt), lastError: s.lastError, polls: s.polls, errors: s.errors, tags, ...(counters ? { counters } : {}) };
      }),
      journal: {
        records: j.records, bytes: j.bytes, fileBytes: j.fileBytes, oldestAgeMs: j.oldestCapturedAt === null ? null : Date.now() - j.oldestCapturedAt, nextSeq: j.nextSeq, dropped: j.dropped, quarantined: quarantined?.movedTo ?? null,
        damaged: damaged ? { why: damaged.why, count: damaged.count, ranges: damaged.ranges.slice(0, 100) } : null, checksumMismatches: j.checksumMismatches,
        captured: now.captured, captureRate: rates.capturedPerSec, waiting: j.queued, commitDueAt: iso(journal.progress().dueAt), writeError: life.journalError ?? null,
        ...capacityOf(j.maxBytes, j.bytesPerSample, rates.samplesPerSec),
      },
      uplink: f
        ? { state: f.state, since: iso(f.since), target: f.target, forwarded: f.forwarded, deadLettered: j.deadLetters, lastAckAt: iso(f.lastAckAt), lastError: f.lastError, throughput: rates.forwardedPerSec, lastLatencyMs: metrics.lastUplinkLatencyMs(),
          ...wire(f.forwardedSamples) }
        : { state: 'disabled', since: null, target: null, forwarded: 0, deadLettered: j.deadLetters, lastAckAt: null, lastError: null, throughput: 0, lastLatencyMs: null, client: null, compression: null, wireBytes: 0, wireBytesPerSample: null },
      sparkplug: { ...edge.status(), brokerClients: broker?.clients() ?? null },
      broker: broker?.stats() ?? null,
      http: httpAccess?.stats ?? null,
    };
  };

  // Age bound at start, then housekeeping on its schedule.
  prune(journal, config.buffer.max_age, log);
  let stopHousekeeping = startHousekeeping(journal, config.buffer.housekeeping, config.buffer.max_age, log, boundSource);

  sources.status = status;
  sources.metrics = metrics.registry;
  life.phase = undefined;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('Stopping: polling first, then NDEATH, the uplink flush, and the journal.');
      life.phase = 'stopping';
      stopHousekeeping();
      clearInterval(historyTimer);
      await Promise.all([...devices.values()].map((d) => d.poller.stop()));
      // NDEATH is committed before the flush, so that the cloud learns of an orderly stop now, not at the next start.
      await edge.stop();
      journal.flush();
      await forwarder?.stop(5000);
      await http.close();
      await broker?.close();
      const left = journal.stats().records;
      journal.close();
      log.info({ backlog: left }, 'Stopped; the journal keeps what Kafka has not acknowledged.');
    })());

  // One reload at a time, never during a stop.
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (next: GatewayConfig): Promise<ReloadOutcome> => {
    const run = reloading.then(async (): Promise<ReloadOutcome> => {
      if (stopping) return { ...planReload(current, current), restartNeeded: ['the gateway is stopping'] };
      const plan = planReload(current, next);
      // The broker first: its passwords and certificates are read again, and one that cannot be read refuses the
      // whole reload (a ConfigValueError) before anything changed. The edge node keeps the login it started with.
      const inPlace = brokerInPlace(current.broker, next.broker);
      const brokerOutcome = broker?.reload(inPlace.running, { reloadTls: inPlace.reloadTls });
      if (!broker && plan.broker) log.info('Reload: the broker section changed; the broker in its own process applies it when it is reloaded itself (systemctl reload edge-gateway-broker).');
      for (const key of plan.restartNeeded) {
        if (key.startsWith('broker.')) log.warn({ key }, brokerRestartMessage(key));
        else log.warn({ key }, `Reload: "${key}" changed; it takes effect at the next restart (the running value stays).`);
      }
      if (plan.logLevel) log.level = next.log_level;
      // The node's view of its devices first, so that a new device's birth and commands resolve.
      const kept: GatewayConfig = {
        ...current, devices: next.devices, uplink: next.uplink, log_level: next.log_level,
        buffer: { ...current.buffer, replay: next.buffer.replay, replay_rate: next.buffer.replay_rate, max_age: next.buffer.max_age, max_bytes: next.buffer.max_bytes, housekeeping: next.buffer.housekeeping },
        broker: { ...inPlace.running, node_user: current.broker.embedded ? inPlace.running.node_user : current.broker.node_user },
      };
      for (const name of [...plan.removed, ...plan.changed]) await stopDevice(name);
      edge.reconfigure(allDefs(next.devices), aliasesFor(kept));
      for (const device of next.devices) if (plan.added.includes(device.name) || plan.changed.includes(device.name)) startDevice(device);
      if (plan.uplink) {
        // The journal keeps every record the old uplink had not delivered; the new one carries on from there.
        await forwarder?.stop(5000);
        forwarder = startUplink(kept);
      }
      if (plan.housekeeping) {
        stopHousekeeping();
        stopHousekeeping = startHousekeeping(journal, next.buffer.housekeeping, next.buffer.max_age, log, boundSource);
      }
      current = kept;
      // The new bound applies from the next commit; a smaller one drops records as buffer.when_full says.
      if (plan.journalBound) applyBound(journal, boundSource, log);
      journal.setCommitInterval(next.buffer.commit_interval);
      const brokerSummary = brokerOutcome && { disconnected: brokerOutcome.disconnected.length, ...(brokerOutcome.certificate ? { certificate: brokerOutcome.certificate } : {}) };
      log.info({ added: plan.added, removed: plan.removed, restarted: plan.changed, uplink: plan.uplink, broker: plan.broker, journalBound: plan.journalBound, ...(brokerSummary ? { brokerReload: brokerSummary } : {}), restartNeeded: plan.restartNeeded }, 'Reloaded the config.');
      return plan;
    });
    reloading = run.catch(() => undefined);
    return run;
  };

  const progress = (): GatewayProgress => ({ journal: journal.progress(), devices: [...devices.values()].map(({ poller: p }) => ({ name: p.device, ...p.progress() })) });

  return { status, reload, progress, stop, broker, http, edge, journal };
}

export interface ReloadOutcome {
  added: string[];
  removed: string[];
  /** Devices whose config changed: only their poll loops restart. */
  changed: string[];
  /** The uplink reconnects (its config or the replay settings changed). */
  uplink: boolean;
  /**
   * The broker's users, rights, anonymous access, limits or TLS files changed; the embedded broker applies them in
   * place (it reads its password files and certificates again at every reload anyway).
   */
  broker: boolean;
  housekeeping: boolean;
  /** buffer.max_bytes changed: the journal takes the new bound at once. */
  journalBound: boolean;
  logLevel: boolean;
  /** Keys whose new value needs a restart (the journal's sync and when_full, the broker's listeners, the HTTP listener, the Sparkplug identity, log.format). */
  restartNeeded: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What a reload from `from` to `to` changes. Pure, so that the rules are tested without processes. */
export function planReload(from: GatewayConfig, to: GatewayConfig): ReloadOutcome {
  const before = new Map(from.devices.map((d) => [d.name, d]));
  const after = new Map(to.devices.map((d) => [d.name, d]));
  const restartNeeded: string[] = [];
  // log.format: the log's output stream is made once, when the process starts (log.level applies at once).
  for (const key of ['site', 'data_dir', 'http', 'sparkplug', 'log_format'] as const) if (!same(from[key], to[key])) restartNeeded.push(key === 'log_format' ? 'log.format' : key);
  // With the broker in its own process, its TLS listener is that process's business (it reloads on its own).
  restartNeeded.push(...brokerRestartKeys(from.broker, to.broker).filter((k) => from.broker.embedded || !k.startsWith('broker.tls')));
  // The edge node logs in to a broker of its own process as broker.node_user, read at start.
  if (!from.broker.embedded && from.broker.node_user !== to.broker.node_user) restartNeeded.push('broker.node_user');
  for (const key of ['sync', 'when_full'] as const) if (!same(from.buffer[key], to.buffer[key])) restartNeeded.push(`buffer.${key}`);
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after.keys()].filter((n) => before.has(n) && !same(before.get(n), after.get(n))),
    uplink: !same(from.uplink, to.uplink) || from.buffer.replay !== to.buffer.replay || from.buffer.replay_rate !== to.buffer.replay_rate,
    broker: brokerSecurityChanged(from.broker, to.broker),
    housekeeping: !same(from.buffer.housekeeping, to.buffer.housekeeping) || from.buffer.max_age !== to.buffer.max_age,
    journalBound: !same(from.buffer.max_bytes, to.buffer.max_bytes),
    logLevel: from.log_level !== to.log_level,
    restartNeeded,
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
