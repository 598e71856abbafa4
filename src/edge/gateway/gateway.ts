// Start-up and orderly shutdown of the whole gateway: drivers → edge → journal → Kafka, plus the local broker
// and the status API. The parts live beside this file: the devices (devices.ts), the journal's opening
// (journal.ts), the uplink (uplink.ts), reload (reload.ts) and the status they all report (status.ts).
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Journal } from '../../uplink/journal/journal.js';
import { prune, startHousekeeping, applyBound } from '../../uplink/journal/housekeeping.js';
import { brokerUrlOf, startBroker, type LocalBroker } from '../broker/server.js';
import { nodeLogin, type NodeLogin } from '../broker/auth.js';
import type { GatewayConfig } from '../config/schema.js';
import { startHttp, type HttpServer } from '../http/server.js';
import { HttpAccess } from '../http/auth.js';
import { createMetrics } from '../http/metrics.js';
import { toJournalEntry } from '../journal-record.js';
import { AliasTable } from '../sparkplug/aliases.js';
import { EdgeNode, type EdgeNodeOptions } from '../sparkplug/edge-node.js';
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
  const edge: EdgeNode = edgeNodeFor(config, dataDir, { url: brokerUrl, login }, aliasesFor(config), log, {
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
  const stop = () => (stopping ??= stopInOrder({ log, life, devices, edge, journal, uplink, http, broker, timers: () => { stopHousekeeping(); clearInterval(historyTimer); } }));

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

/** The Sparkplug edge node on the site broker (or sparkplug.servers), with its births from the configured devices. */
function edgeNodeFor(config: GatewayConfig, dataDir: string, broker: { url: string; login: NodeLogin | undefined }, aliases: AliasTable | undefined, log: Logger, io: Pick<EdgeNodeOptions, 'capture' | 'write'>): EdgeNode {
  const { login } = broker;
  return new EdgeNode({
    group: config.site.group,
    node: config.site.node,
    servers: config.sparkplug.servers?.map(brokerUrlOf) ?? [broker.url],
    username: login?.username,
    // The broker in its own process: node_user's password is read again before every connection, so a changed
    // password file is picked up without a restart.
    password: config.broker.embedded || !login ? login?.password : () => nodeLogin(config.broker)!.password,
    bdSeqFile: join(dataDir, 'bdseq'),
    devices: tagDefsByDevice(config.devices),
    aliases,
    primaryHost: config.sparkplug.primary_host,
    holdMax: config.sparkplug.hold_max,
    heldFile: join(dataDir, 'held.db'),
    log,
    ...io,
  });
}

/** An orderly stop: polling first, then NDEATH, the uplink's flush, the servers, and the journal last. */
async function stopInOrder(p: { log: Logger; life: Life; devices: Devices; edge: EdgeNode; journal: Journal; uplink: Uplink; http: HttpServer; broker: LocalBroker | undefined; timers: () => void }): Promise<void> {
  p.log.info('Stopping: polling first, then NDEATH, the uplink flush, and the journal.');
  p.life.phase = 'stopping';
  p.timers();
  await p.devices.stopPolling();
  // NDEATH is committed before the flush, so that the cloud learns of an orderly stop now, not at the next start.
  await p.edge.stop();
  p.journal.flush();
  await p.uplink.stop(5000);
  await p.http.close();
  await p.broker?.close();
  const left = p.journal.stats().records;
  p.journal.close();
  p.log.info({ backlog: left }, 'Stopped; the journal keeps what Kafka has not acknowledged.');
}
