// /metrics in Prometheus text format (prom-client). Gauges read the same status the status API shows, at scrape
// time, so the two never disagree.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayStatus } from './gateway.js';

export interface GatewayMetrics {
  registry: Registry;
  /** Called for every captured message with the number of samples (metrics) it carries. */
  captured(samples: number): void;
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

export function createMetrics(status: () => GatewayStatus): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edge_gateway_process_' });
  const samples = new Counter({ name: 'edge_gateway_samples_captured_total', help: 'Samples (Sparkplug metrics) committed to the journal.', registers: [registry] });
  const messages = new Counter({ name: 'edge_gateway_messages_captured_total', help: 'Messages (journal records) committed.', registers: [registry] });
  const writeBytesAtStart = processWriteBytes();
  let capturedSamples = 0;

  const gauge = (name: string, help: string, labelNames: string[], read: (g: Gauge, s: GatewayStatus) => void) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { read(this, status()); } });

  gauge('edge_gateway_journal_records', 'Records in the journal, not yet acknowledged by Kafka.', [], (g, s) => g.set(s.journal.records));
  gauge('edge_gateway_journal_bytes', 'Bytes of the journal\'s records (key + value).', [], (g, s) => g.set(s.journal.bytes));
  gauge('edge_gateway_journal_file_bytes', 'Size of the journal file.', [], (g, s) => g.set(s.journal.fileBytes));
  gauge('edge_gateway_journal_oldest_age_seconds', 'Age of the oldest record in the journal.', [], (g, s) => g.set((s.journal.oldestAgeMs ?? 0) / 1000));
  gauge('edge_gateway_journal_dropped_records', 'Records dropped by the journal since start, by reason.', ['reason'], (g, s) => {
    for (const [reason, n] of Object.entries(s.journal.dropped)) g.set({ reason }, n);
  });
  gauge('edge_gateway_journal_write_bytes_per_sample', 'Bytes written to storage by the process per captured sample (Linux).', [], (g) => {
    const now = processWriteBytes();
    if (now !== undefined && writeBytesAtStart !== undefined && capturedSamples > 0) g.set((now - writeBytesAtStart) / capturedSamples);
  });
  gauge('edge_gateway_uplink_up', '1 while Kafka acknowledges, else 0.', [], (g, s) => g.set(s.uplink.state === 'up' ? 1 : 0));
  gauge('edge_gateway_records_forwarded', 'Records acknowledged by Kafka since start.', [], (g, s) => g.set(s.uplink.forwarded));
  gauge('edge_gateway_dead_letters', 'Records Kafka refused for good, kept in the dead_letters table.', [], (g, s) => g.set(s.uplink.deadLettered));
  gauge('edge_gateway_device_up', '1 while the device answers, else 0.', ['device'], (g, s) => {
    for (const d of s.devices) g.set({ device: d.name }, d.state === 'up' ? 1 : 0);
  });
  gauge('edge_gateway_device_polls', 'Successful polls since start.', ['device'], (g, s) => {
    for (const d of s.devices) g.set({ device: d.name }, d.polls);
  });
  gauge('edge_gateway_device_errors', 'Failed polls since start.', ['device'], (g, s) => {
    for (const d of s.devices) g.set({ device: d.name }, d.errors);
  });
  gauge('edge_gateway_broker_refused_connections', 'MQTT connections the embedded broker refused since start, by reason.', ['reason'], (g, s) => {
    if (!s.broker) return;
    for (const [reason, n] of Object.entries(s.broker.refused)) g.set({ reason }, n);
    g.set({ reason: 'too_many_open' }, s.broker.connectionsDropped);
  });
  gauge('edge_gateway_broker_denied', 'MQTT publishes dropped and subscriptions refused by the topic rights since start.', ['action'], (g, s) => {
    if (!s.broker) return;
    for (const [action, n] of Object.entries(s.broker.denied)) g.set({ action }, n);
  });
  gauge('edge_gateway_sparkplug_online', '1 while the Sparkplug session is born, else 0.', [], (g, s) => g.set(s.sparkplug.state === 'online' ? 1 : 0));

  return {
    registry,
    captured(n) {
      messages.inc();
      samples.inc(n);
      capturedSamples += n;
    },
  };
}
