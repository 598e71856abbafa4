// Start-up and orderly shutdown of the whole gateway: drivers → edge → journal → Kafka, plus the local broker
// and the status API. The parts live beside this file: the devices (devices.ts), the journal's opening
// (journal.ts), the uplink (uplink.ts), reload (reload.ts) and the status they all report (status.ts).
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Journal } from '../../uplink/journal/journal.js';
import { prune, startHousekeeping, applyBound } from '../../uplink/journal/housekeeping.js';
import { brokerUrlOf, startBroker, type LocalBroker } from '../broker/server.js';
import { nodeLogin } from '../broker/auth.js';
import type { GatewayConfig } from '../config/schema.js';
import { startHttp, type HttpServer } from '../http/server.js';
import { HttpAccess } from '../http/auth.js';
import { createMetrics } from '../http/metrics.js';
import { toJournalEntry } from '../journal-record.js';
import { AliasTable } from '../sparkplug/aliases.js';
import { EdgeNode } from '../sparkplug/edge-node.js';
import { readiness, type ReadinessCheck } from '../http/status-page/health.js';
import { StatusHistory } from '../http/status-page/history.js';
import { statusRoutes, type StatusSources } from '../http/status-page/routes.js';
import { Devices, tagDefsByDevice } from './devices.js';
import { openGatewayJournal, type Life } from './journal.js';
import { reloader, type ReloadOutcome } from './reload.js';
import { gatewayStatus, type GatewayProgress, type GatewayStatus } from './status.js';
import { Uplink } from './uplink.js';

export type { GatewayProgress, GatewayStatus } from './status.js';
export { planReload, type ReloadOutcome } from './reload.js';

export interface Gateway {
  status(): GatewayStatus;
  /** Applies a new, already validated config with the least disruption; see `planReload`. */
  reload(next: GatewayConfig): Promise<ReloadOutcome>;
  /** Cheap counters for the systemd watchdog (service/watchdog.ts): is capture and polling moving? */
  progress(): GatewayProgress;
  stop(): Promise<void>;
  readonly broker: LocalBroker | undefined;
  readonly http: HttpServer;
  readonly edge: EdgeNode;
  readonly journal: Journal;
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
  const life: Life = { phase: 'starting: opening the journal', journalError: undefined };
  const checks: ReadinessCheck[] = [() => life.phase, () => life.journalError];
  const history = new StatusHistory();
  const sources: StatusSources = { readiness: () => readiness(checks), status: undefined, metrics: undefined, history: () => ({ intervalMs: history.intervalMs, points: history.points() }) };
  // With http.users, everything but the health checks asks for a login.
  const httpAccess = config.http.users ? new HttpAccess(config.http.users, log) : undefined;
  const http = await startHttp(config.http.listen, statusRoutes(sources), log, { access: httpAccess, open: ['/healthz', '/readyz'] });

  const opened = await openGatewayJournal(config, dataDir, () => current, life, log, hooks.waiting);
  const { journal } = opened;
  life.phase = 'starting: the local MQTT broker and the Sparkplug session';

  // The edge node logs in like any client: to the embedded broker by a credential made now, else as broker.node_user.
  const login = nodeLogin(config.broker);
  const broker = config.broker.embedded ? await startBroker(config.broker.listen, log, { security: config.broker, node: { group, node, login } }) : undefined;
  const brokerUrl = broker?.url ?? brokerUrlOf(config.broker.listen);
  if (broker) checks.push(() => (broker.listening() ? undefined : `the embedded MQTT broker does not listen on ${config.broker.listen.host}:${config.broker.listen.port} (broker.listen)`));
  const aliasesFor = (c: GatewayConfig) => (c.sparkplug.aliases ? AliasTable.open(join(dataDir, 'aliases.json'), tagDefsByDevice(c.devices)) : undefined);

  // Reads `status` at scrape time; defined below.
  const metrics = createMetrics(() => status());

  // The devices' samples go to the edge node made next; none is polled before it exists.
  const devices = new Devices(() => edge, { log, siteBrokerUrl: brokerUrl });
  const edge: EdgeNode = new EdgeNode({
    group,
    node,
    servers: config.sparkplug.servers?.map(brokerUrlOf) ?? [brokerUrl],
    username: login?.username,
    // The broker in its own process: node_user's password is read again before every connection, so a changed
    // password file is picked up without a restart.
    password: config.broker.embedded || !login ? login?.password : () => nodeLogin(config.broker)!.password,
    bdSeqFile: join(dataDir, 'bdseq'),
    devices: tagDefsByDevice(config.devices),
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
    write: (device, tag, value) => devices.write(device, tag, value),
  });
  edge.start();
  // Give the session a moment, so that a normal start reads NBIRTH, DBIRTH, DDATA in MQTT and in Kafka alike;
  // a broker that is not there does not hold up polling and journaling.
  if (!(await edge.waitOnline(3000))) log.warn({ broker: edge.status().server }, 'The MQTT broker is not reachable yet; polling and journaling start anyway.');

  for (const device of config.devices) devices.start(device);
  const uplink = new Uplink(journal, { group, node }, log, (batch) => metrics.forwarded(batch, Date.now()));
  uplink.start(config);

  // One history sample now and one per interval: the status page's chart of the last hour.
  const historySample = (records = journal.stats().records) => ({ t: Date.now(), records, captured: metrics.messagesCaptured(), samples: metrics.samplesCaptured(), forwarded: uplink.forwarded() });
  history.add(historySample());
  const historyTimer = setInterval(() => history.add(historySample()), history.intervalMs).unref();

  const status = (): GatewayStatus => gatewayStatus({
    site: { group, node }, startedAt, checks, journal, opened, history, edge,
    journalError: () => life.journalError,
    bound: () => ({ setting: current.buffer.max_bytes, resolved: opened.bound() }),
    devices: () => devices.status(),
    uplink: (rates, deadLettered) => uplink.status(rates.forwardedPerSec, deadLettered, metrics.lastUplinkLatencyMs()),
    brokerClients: () => broker?.clients() ?? null,
    brokerStats: () => broker?.stats() ?? null,
    httpStats: () => httpAccess?.stats ?? null,
    sample: historySample,
  });

  // Age bound at start, then housekeeping on its schedule.
  prune(journal, config.buffer.max_age, log);
  let stopHousekeeping = startHousekeeping(journal, config.buffer.housekeeping, config.buffer.max_age, log, opened.boundSource);

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
      await devices.stopPolling();
      // NDEATH is committed before the flush, so that the cloud learns of an orderly stop now, not at the next start.
      await edge.stop();
      journal.flush();
      await uplink.stop(5000);
      await http.close();
      await broker?.close();
      const left = journal.stats().records;
      journal.close();
      log.info({ backlog: left }, 'Stopped; the journal keeps what Kafka has not acknowledged.');
    })());

  const reload = reloader({
    log, broker, devices, edge, journal, aliasesFor,
    current: () => current,
    settle: (next) => (current = next),
    stopping: () => stopping !== undefined,
    restartUplink: async (c) => {
      await uplink.stop(5000);
      uplink.start(c);
    },
    restartHousekeeping: (c) => {
      stopHousekeeping();
      stopHousekeeping = startHousekeeping(journal, c.buffer.housekeeping, c.buffer.max_age, log, opened.boundSource);
    },
    applyBound: () => void applyBound(journal, opened.boundSource, log),
  });

  const progress = (): GatewayProgress => ({ journal: journal.progress(), devices: devices.progress() });

  return { status, reload, progress, stop, broker, http, edge, journal };
}
