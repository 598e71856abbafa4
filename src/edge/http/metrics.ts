// /metrics in Prometheus text format (prom-client). Gauges and counters read the same status the status API
// shows, at scrape time, so the two never disagree.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JournalRecord } from '../../uplink/journal/journal.js';
import type { GatewayStatus } from '../gateway/status.js';
import { packageVersion } from '../version.js';

export interface GatewayMetrics {
  registry: Registry;
  /** Called for every captured message with the number of samples (metrics) it carries. */
  captured(samples: number): void;
  /** Called for every batch Kafka acknowledged: capture-to-acknowledgement latency of each record. */
  forwarded(batch: readonly JournalRecord[], ackedAt: number): void;
  /** Messages captured since start. */
  messagesCaptured(): number;
  /** Samples (metrics) those messages carried. */
  samplesCaptured(): number;
  /** Capture-to-acknowledgement time of the newest record of the last acknowledged batch. */
  lastUplinkLatencyMs(): number | null;
}

/** Bytes this process caused to be written to storage (Linux /proc/self/io), or undefined elsewhere. */
function processWriteBytes(): number | undefined {
  try {
    const m = /^write_bytes:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** From 10 ms (live data on a LAN) to a day (the backlog of a long outage). */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

export function createMetrics(readStatus: () => GatewayStatus): GatewayMetrics {
  const registry = new Registry();
  // Node's process metrics under their standard names, prefixed once: edge_gateway_process_cpu_seconds_total,
  // edge_gateway_nodejs_heap_size_used_bytes, …
  collectDefaultMetrics({ register: registry, prefix: 'edge_gateway_' });
  new Gauge({ name: 'edge_gateway_build_info', help: 'Always 1; the labels tell the gateway\'s version (package.json) and the Node.js it runs on.', labelNames: ['version', 'node'], registers: [registry] })
    .set({ version: packageVersion(), node: process.version }, 1);
  const samples = new Counter({ name: 'edge_gateway_samples_captured_total', help: 'Samples (Sparkplug metrics) committed to the journal.', registers: [registry] });
  const messages = new Counter({ name: 'edge_gateway_messages_captured_total', help: 'Messages (journal records) committed.', registers: [registry] });
  const latency = new Histogram({
    name: 'edge_gateway_uplink_latency_seconds',
    help: 'Time from capture (journal commit) to Kafka\'s acknowledgement, per record; historical="true" for records held back by an outage.',
    labelNames: ['historical'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  for (const historical of ['false', 'true']) latency.zero({ historical });
  let capturedSamples = 0;
  let capturedMessages = 0;
  let lastLatencyMs: number | null = null;

  const m = statusMetrics(registry, readStatus);
  journalMetrics(m, () => capturedSamples);
  uplinkMetrics(m);
  deviceMetrics(m);
  brokerMetrics(m);
  sparkplugMetrics(m);

  return {
    registry,
    captured(n) {
      messages.inc();
      samples.inc(n);
      capturedSamples += n;
      capturedMessages += 1;
    },
    forwarded(batch, ackedAt) {
      for (const r of batch) latency.observe({ historical: String(r.held) }, Math.max(0, ackedAt - r.capturedAt) / 1000);
      const newest = batch[batch.length - 1];
      if (newest) lastLatencyMs = Math.max(0, ackedAt - newest.capturedAt);
    },
    messagesCaptured: () => capturedMessages,
    samplesCaptured: () => capturedSamples,
    lastUplinkLatencyMs: () => lastLatencyMs,
  };
}

/** The metrics that follow the gateway's status, each read from it at scrape time. */
interface StatusMetrics {
  gauge(name: string, help: string, labelNames: string[], read: (g: Gauge, s: GatewayStatus) => void): void;
  /** A counter that follows a count the status keeps since start (which only grows). */
  counter(name: string, help: string, labelNames: string[], read: (s: GatewayStatus) => Array<[Record<string, string>, number]>): void;
}

function statusMetrics(registry: Registry, readStatus: () => GatewayStatus): StatusMetrics {
  // One status per scrape, not one per metric: the journal's figures come from SQL.
  let cached: { at: number; status: GatewayStatus } | undefined;
  const status = () => {
    if (!cached || Date.now() - cached.at > 200) cached = { at: Date.now(), status: readStatus() };
    return cached.status;
  };

  const gauge = (name: string, help: string, labelNames: string[], read: (g: Gauge, s: GatewayStatus) => void) => {
    new Gauge({ name, help, labelNames, registers: [registry], collect() { read(this, status()); } });
  };

  const counter = (name: string, help: string, labelNames: string[], read: (s: GatewayStatus) => Array<[Record<string, string>, number]>) => {
    const seen = new Map<string, number>();
    new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        for (const [labels, value] of read(status())) {
          const key = JSON.stringify(labels);
          this.inc(labels, Math.max(0, value - (seen.get(key) ?? 0)));
          seen.set(key, Math.max(value, seen.get(key) ?? 0));
        }
      },
    });
  };

  return { gauge, counter };
}

// NaN while not known, so that an alert on a low capacity does not fire for a gateway that has captured nothing yet.
const known = (n: number | null) => (n === null ? NaN : n);

/** Readiness, and the journal: what it holds, its bound, what it dropped, what it writes to storage. */
function journalMetrics(m: StatusMetrics, samplesCaptured: () => number): void {
  const writeBytesAtStart = processWriteBytes();
  m.gauge('edge_gateway_ready', '1 while /readyz answers 200 (journal writing, embedded broker listening), else 0.', [], (g, s) => g.set(s.ready.ready ? 1 : 0));
  m.gauge('edge_gateway_journal_records', 'Records in the journal, not yet acknowledged by Kafka.', [], (g, s) => g.set(s.journal.records));
  m.gauge('edge_gateway_journal_bytes', 'Bytes of the journal\'s records (key + value).', [], (g, s) => g.set(s.journal.bytes));
  m.gauge('edge_gateway_journal_file_bytes', 'Size of the journal file.', [], (g, s) => g.set(s.journal.fileBytes));
  m.gauge('edge_gateway_journal_oldest_age_seconds', 'Age of the oldest record in the journal.', [], (g, s) => g.set((s.journal.oldestAgeMs ?? 0) / 1000));
  m.gauge('edge_gateway_journal_max_bytes', 'The bound on the journal\'s bytes in force (buffer.max_bytes; a share of the disk is measured again every minute).', [], (g, s) => g.set(known(s.journal.maxBytes)));
  m.gauge('edge_gateway_journal_bytes_per_sample', 'Journal bytes per captured sample since start (NaN before the first).', [], (g, s) => g.set(known(s.journal.bytesPerSample)));
  m.gauge('edge_gateway_journal_capacity_seconds', 'How long the journal\'s bound holds at the capture rate of the last minute (NaN while nothing is captured).', [], (g, s) => g.set(known(s.journal.capacityHours === null ? null : s.journal.capacityHours * 3600)));
  m.gauge('edge_gateway_journal_write_failing', '1 while the journal\'s writes fail (disk full, I/O errors), else 0.', [], (g, s) => g.set(s.journal.writeError ? 1 : 0));
  m.counter('edge_gateway_journal_dropped_records_total', 'Records dropped by the journal since start, by reason (each announced by a gap record).', ['reason'], (s) =>
    Object.entries(s.journal.dropped).map(([reason, n]) => [{ reason }, n]),
  );
  m.counter('edge_gateway_journal_checksum_mismatches_total', 'Records found altered in the journal file (checksum mismatch) since start, set aside in dead_letters and announced by a gap record.', [], (s) => [[{}, s.journal.checksumMismatches]]);
  m.gauge('edge_gateway_journal_write_bytes_per_sample', 'Bytes written to storage by the process per captured sample (Linux).', [], (g) => {
    const now = processWriteBytes();
    if (now !== undefined && writeBytesAtStart !== undefined && samplesCaptured() > 0) g.set((now - writeBytesAtStart) / samplesCaptured());
  });
}

/** Kafka: whether it acknowledges, what it was sent, what it refused for good. */
function uplinkMetrics(m: StatusMetrics): void {
  m.gauge('edge_gateway_uplink_up', '1 while Kafka acknowledges, else 0.', [], (g, s) => g.set(s.uplink.state === 'up' ? 1 : 0));
  m.counter('edge_gateway_records_forwarded_total', 'Records acknowledged by Kafka since start.', [], (s) => [[{}, s.uplink.forwarded]]);
  m.counter('edge_gateway_uplink_wire_bytes_total', 'Bytes the Kafka client sent to the cluster since the uplink started: requests as on the wire, compressed, with their framing.', [], (s) => [[{}, s.uplink.wireBytes]]);
  m.gauge('edge_gateway_uplink_wire_bytes_per_sample', 'Bytes on the wire to Kafka per sample (metric) forwarded since the uplink started (NaN before the first).', [], (g, s) => g.set(known(s.uplink.wireBytesPerSample)));
  m.gauge('edge_gateway_dead_letters', 'Records Kafka refused for good, kept in the dead_letters table.', [], (g, s) => g.set(s.uplink.deadLettered));
}

/** The devices polled, and the events their drivers count. */
function deviceMetrics(m: StatusMetrics): void {
  m.gauge('edge_gateway_device_up', '1 while the device answers, else 0.', ['device'], (g, s) => {
    for (const d of s.devices) g.set({ device: d.name }, d.state === 'up' ? 1 : 0);
  });
  m.counter('edge_gateway_device_polls_total', 'Successful polls since start.', ['device'], (s) => s.devices.map((d) => [{ device: d.name }, d.polls]));
  m.counter('edge_gateway_device_errors_total', 'Failed polls since start.', ['device'], (s) => s.devices.map((d) => [{ device: d.name }, d.errors]));
  m.counter('edge_gateway_driver_events_total', 'Events a driver counts since start, by device and event (mqtt-json: messages, invalid_json, missing_field, wrong_type, bad_timestamp).', ['device', 'event'], (s) =>
    s.devices.flatMap((d) => Object.entries(d.counters ?? {}).map(([event, n]): [Record<string, string>, number] => [{ device: d.name, event }, n])),
  );
}

/** The embedded broker: connections refused and closed, rights denied, reload disconnects. */
function brokerMetrics(m: StatusMetrics): void {
  m.counter('edge_gateway_broker_connections_refused_total', 'MQTT connections the embedded broker refused since start, by reason.', ['reason'], (s) =>
    s.broker ? [...Object.entries(s.broker.refused), ['too_many_open', s.broker.connectionsDropped] as const].map(([reason, n]) => [{ reason }, n]) : []);
  m.counter('edge_gateway_broker_reserved_client_id_refused_total', 'MQTT logins refused (CONNACK 5) for using the edge node\'s client id without being the edge node.', [], (s) =>
    s.broker ? [[{}, s.broker.refused.reserved_client_id]] : []);
  m.counter('edge_gateway_broker_connections_closed_total', 'MQTT connections the embedded broker closed since start: no login within broker.connect_timeout, too many bytes before the login, a packet beyond broker.max_packet_bytes, bytes that are not MQTT, or too many logging in at once.', ['reason'], (s) =>
    s.broker ? [...Object.entries(s.broker.closed), ['too_many_connecting', s.broker.connectionsDropped] as const].map(([reason, n]) => [{ reason }, n]) : []);
  m.gauge('edge_gateway_broker_connecting', 'MQTT connections to the embedded broker that have not logged in yet.', [], (g, s) => {
    if (s.broker) g.set(s.broker.connecting);
  });
  m.counter('edge_gateway_broker_denied_total', 'MQTT publishes dropped and subscriptions refused by the topic rights since start.', ['action'], (s) =>
    Object.entries(s.broker?.denied ?? {}).map(([action, n]) => [{ action }, n]),
  );
  m.counter('edge_gateway_broker_reload_disconnects_total', 'MQTT clients a reload disconnected from the embedded broker: their user removed, their password changed, or anonymous clients no longer allowed.', ['reason'], (s) =>
    Object.entries(s.broker?.disconnected ?? {}).map(([reason, n]) => [{ reason }, n]),
  );
}

/**
 * The Sparkplug edge node (and the status page's refused logins, listed among them as /metrics always has: the
 * order in which metrics are made is the order a scrape lists them).
 */
function sparkplugMetrics(m: StatusMetrics): void {
  m.gauge('edge_gateway_sparkplug_online', '1 while the Sparkplug session is born, else 0.', [], (g, s) => g.set(s.sparkplug.state === 'online' ? 1 : 0));
  m.counter('edge_gateway_sparkplug_messages_published_total', 'Sparkplug messages published on the site broker since start.', [], (s) => [[{}, s.sparkplug.published]]);
  m.counter('edge_gateway_sparkplug_rebirths_total', 'Rebirth requests answered (ignored: duplicates while a birth sequence was going out).', ['outcome'], (s) => [
    [{ outcome: 'answered' }, s.sparkplug.rebirths], [{ outcome: 'ignored' }, s.sparkplug.rebirthsIgnored],
  ]);
  m.counter('edge_gateway_sparkplug_writes_total', 'DCMD writes, by outcome (refused: not writable, wrong type, unknown metric, or the PLC failed).', ['outcome'], (s) => [
    [{ outcome: 'written' }, s.sparkplug.writes], [{ outcome: 'refused' }, s.sparkplug.commandsRefused],
  ]);
  m.counter('edge_gateway_sparkplug_connect_failures_total', 'Connection attempts of the edge node to its MQTT server that gave no session (unreachable, refused, or no CONNACK); bdSeq advances only for a CONNECT sent.', [], (s) => [[{}, s.sparkplug.connectFailures ?? 0]]);
  m.counter('edge_gateway_sparkplug_commands_ignored_total', 'NCMD/DCMD messages ignored whole: retained (commands must not be retained; one would repeat at every connect).', ['reason'], (s) => [
    [{ reason: 'retained' }, s.sparkplug.retainedCommandsIgnored ?? 0],
  ]);
  m.counter('edge_gateway_sparkplug_refusal_log_lines_suppressed_total', 'Command refusal log lines left out by the rate limit (at most 10 a minute; every refusal is still counted in edge_gateway_sparkplug_writes_total).', [], (s) => [[{}, s.sparkplug.refusalLinesSuppressed ?? 0]]);
  m.gauge('edge_gateway_sparkplug_held_metrics', 'Metrics held while the MQTT session or the primary host is down, to be published as historical.', [], (g, s) => g.set(s.sparkplug.held));
  m.counter('edge_gateway_sparkplug_held_dropped_total', 'Held metrics dropped beyond sparkplug.hold_max (the journal and Kafka still have them).', [], (s) => [[{}, s.sparkplug.heldDropped]]);
  m.counter('edge_gateway_http_logins_refused_total', 'Requests to the status page, /api/status or /metrics refused for want of a valid http.users login.', ['reason'], (s) =>
    s.http ? Object.entries(s.http.refused).map(([reason, n]) => [{ reason }, n]) : []);
  m.counter('edge_gateway_sparkplug_server_switches_total', 'Times the edge node went on to the next of sparkplug.servers (unreachable, or the primary host offline there).', [], (s) => [[{}, s.sparkplug.serverSwitches]]);
  m.counter('edge_gateway_sparkplug_historical_published_total', 'Held metrics published as historical after a birth.', [], (s) => [[{}, s.sparkplug.historicalPublished]]);
}
