// Start-up and orderly shutdown of the whole gateway: drivers → edge → journal → Kafka, plus the local broker
// and the status API.
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createDriver } from '../drivers/index.js';
import type { Driver } from '../drivers/types.js';
import { Forwarder } from '../uplink/forwarder.js';
import { openJournalWhenPossible, type Journal } from '../uplink/journal.js';
import { prune, startHousekeeping } from '../uplink/housekeeping.js';
import { permanentKafkaError } from '../uplink/kafka-errors.js';
import { createKafkaSink } from '../uplink/kafka-sink.js';
import { brokerUrlOf, startBroker, type BrokerStats, type LocalBroker } from './broker.js';
import { nodeLogin } from './broker-auth.js';
import type { GatewayConfig } from './config/schema.js';
import { startHttp, type HttpServer } from './http.js';
import { createMetrics } from './metrics.js';
import { gapJournalEntry, toJournalEntry } from './journal-record.js';
import { Poller } from './poller.js';
import { sparkplugTypeOf } from './sparkplug/datatypes.js';
import { AliasTable } from './sparkplug/aliases.js';
import { EdgeNode } from './sparkplug/edge-node.js';
import { DeviceTagModel, type TagDef } from './tag-model.js';

export interface Gateway {
  status(): GatewayStatus;
  stop(): Promise<void>;
  readonly broker: LocalBroker | undefined;
  readonly http: HttpServer;
  readonly edge: EdgeNode;
  readonly journal: Journal;
}

export interface GatewayStatus {
  site: { group: string; node: string };
  startedAt: string;
  devices: Array<{ name: string; driver: string; state: string; lastPollAt: string | null; lastError: string | null; polls: number; errors: number }>;
  journal: { records: number; bytes: number; fileBytes: number; oldestAgeMs: number | null; nextSeq: number; dropped: Record<string, number>; quarantined: string | null };
  uplink: { state: string; target: string | null; forwarded: number; deadLettered: number; lastAckAt: string | null; lastError: string | null };
  sparkplug: ReturnType<EdgeNode['status']> & { broker: string; brokerClients: number | null };
  /** The embedded broker's refusals and denials; null when the broker runs elsewhere. */
  broker: BrokerStats | null;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<Gateway> {
  const startedAt = new Date();
  const dataDir = resolve(config.data_dir);
  const { group, node } = config.site;
  const { journal, quarantined } = await openJournalWhenPossible(join(dataDir, 'journal.db'), {
    sync: config.buffer.sync,
    maxBytes: config.buffer.max_bytes,
    whenFull: config.buffer.when_full,
    onWriteError: (err, failing) => {
      if (failing) log.error({ err: err?.message }, 'The journal cannot write (disk full?); messages wait in memory and capture resumes when it can.');
      else log.info('The journal writes again.');
    },
    gapEntry: (gap) => {
      log.error({ ...gap }, `Journal dropped ${gap.count} records (edge.seq ${gap.from}..${gap.to}, ${gap.reason}); a gap record tells the cloud.`);
      return gapJournalEntry(group, node, gap);
    },
  }, (err) => log.error({ err: err.message, dataDir }, 'The journal cannot be opened: the disk is full. Waiting for space; nothing else starts until then.'));
  if (quarantined) {
    log.error({ ...quarantined }, `The journal file was corrupt: moved to ${quarantined.movedTo}; a fresh journal continues above edge.seq ${quarantined.to}.`);
  }
  log.info({ dataDir, backlog: journal.stats().records, nextSeq: journal.stats().nextSeq }, 'Journal open.');

  // The edge node logs in like any client: as broker.node_user, or by a credential made now for the embedded broker.
  const login = nodeLogin(config.broker);
  const broker = config.broker.embedded ? await startBroker(config.broker.listen, log, { security: config.broker, node: login && { group, node, login } }) : undefined;
  const brokerUrl = broker?.url ?? brokerUrlOf(config.broker.listen);

  const drivers = new Map<string, Driver>();
  const models = new Map<string, DeviceTagModel>();
  const defs = new Map<string, TagDef[]>();
  for (const device of config.devices) {
    const tagDefs = device.tags.map((t) => ({ name: t.name, datatype: sparkplugTypeOf(t.type, t.scale, t.offset), writable: t.writable }));
    defs.set(device.name, tagDefs);
    models.set(device.name, new DeviceTagModel(tagDefs));
    drivers.set(device.name, createDriver(device, { log: log.child({ device: device.name }) }));
  }

  // Reads `status` at scrape time; defined below.
  const metrics = createMetrics(() => status());

  const edge = new EdgeNode({
    group,
    node,
    brokerUrl,
    username: login?.username,
    password: login?.password,
    bdSeqFile: join(dataDir, 'bdseq'),
    devices: defs,
    aliases: config.sparkplug.aliases ? AliasTable.open(join(dataDir, 'aliases.json'), defs) : undefined,
    primaryHost: config.sparkplug.primary_host,
    holdMax: config.sparkplug.hold_max,
    log,
    // A message is captured when its journal transaction commits, before it is published.
    capture: (message, publish) =>
      journal.enqueue(toJournalEntry(group, node, message), () => {
        metrics.captured(message.payload.metrics.length);
        publish();
      }),
    write: async (device, tag, value) => {
      const driver = drivers.get(device);
      if (!driver?.write) throw new Error(`device "${device}" cannot be written to`);
      await driver.write(tag, value);
    },
  });
  edge.start();
  // Give the session a moment, so that a normal start reads NBIRTH, DBIRTH, DDATA in MQTT and in Kafka alike;
  // a broker that is not there does not hold up polling and journaling.
  if (!(await edge.waitOnline(3000))) log.warn({ broker: brokerUrl }, 'The MQTT broker is not reachable yet; polling and journaling start anyway.');

  const pollers = config.devices.map((device) => {
    const model = models.get(device.name)!;
    return new Poller(device.name, drivers.get(device.name)!, { periodMs: device.poll, timeoutMs: device.timeout }, {
      samples: (samples) => {
        if (!edge.isOnline(device.name)) edge.deviceOnline(device.name, model.birth(samples));
        else edge.deviceData(device.name, model.changes(samples));
      },
      down: () => {
        edge.deviceOffline(device.name);
        model.reset();
      },
    }, log);
  });
  for (const p of pollers) p.start();

  const kafka = config.uplink.kafka;
  const forwarder = kafka
    ? new Forwarder(journal, createKafkaSink(kafka, `edge-gateway-${group}-${node}`, log), { node: `${group}/${node}`, batchSize: kafka.batch_size, replay: config.buffer.replay, replayRate: config.buffer.replay_rate, isPermanent: permanentKafkaError }, log)
    : undefined;
  if (!forwarder) log.warn('No uplink configured: the journal keeps everything until one is.');
  forwarder?.start();

  const status = (): GatewayStatus => {
    const j = journal.stats();
    const f = forwarder?.getStatus();
    return {
      site: { group, node },
      startedAt: startedAt.toISOString(),
      devices: pollers.map((p, i) => {
        const s = p.status();
        return { name: p.device, driver: config.devices[i]!.driver, state: s.state, lastPollAt: iso(s.lastPollAt), lastError: s.lastError, polls: s.polls, errors: s.errors };
      }),
      journal: { records: j.records, bytes: j.bytes, fileBytes: j.fileBytes, oldestAgeMs: j.oldestCapturedAt === null ? null : Date.now() - j.oldestCapturedAt, nextSeq: j.nextSeq, dropped: j.dropped, quarantined: quarantined?.movedTo ?? null },
      uplink: f
        ? { state: f.state, target: f.target, forwarded: f.forwarded, deadLettered: j.deadLetters, lastAckAt: iso(f.lastAckAt), lastError: f.lastError }
        : { state: 'disabled', target: null, forwarded: 0, deadLettered: j.deadLetters, lastAckAt: null, lastError: null },
      sparkplug: { ...edge.status(), broker: brokerUrl, brokerClients: broker?.clients() ?? null },
      broker: broker?.stats() ?? null,
    };
  };

  // Age bound at start, then housekeeping on its schedule.
  prune(journal, config.buffer.max_age, log);
  const stopHousekeeping = startHousekeeping(journal, config.buffer.housekeeping, config.buffer.max_age, log);

  const http = await startHttp(config.http.listen, { '/api/status': status, '/metrics': () => metrics.registry }, log);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('Stopping: polling first, then the uplink flush, NDEATH, and the journal.');
      stopHousekeeping();
      await Promise.all(pollers.map((p) => p.stop()));
      await forwarder?.stop(5000);
      await edge.stop();
      await http.close();
      await broker?.close();
      const left = journal.stats().records;
      journal.close();
      log.info({ backlog: left }, 'Stopped; the journal keeps what Kafka has not acknowledged.');
    })());

  return { status, stop, broker, http, edge, journal };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
