// Every series of /metrics follows Prometheus's naming conventions: one `edge_gateway_` prefix, `_total` on
// counters and only on counters, base units, a help text; and edge_gateway_build_info tells the version.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { GatewayStatus } from '../gateway/status.js';
import { createMetrics } from './metrics.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A metric as registry.getMetricsAsJSON() gives it (its `type` is the string "counter", "gauge", …). */
interface MetricJson {
  name: string;
  help: string;
  type: string;
  values: Array<{ value: number; labels: Record<string, string | number> }>;
}

/**
 * prom-client's default Node.js metrics that are gauges named `_total` (a count of what is open now): kept under
 * their standard names, which the usual Node.js dashboards query. No metric of the gateway's own may do the same.
 */
const STANDARD_GAUGES_NAMED_TOTAL = new Set([
  'edge_gateway_nodejs_active_handles_total',
  'edge_gateway_nodejs_active_requests_total',
  'edge_gateway_nodejs_active_resources_total',
]);

/** Unit name segments that are not base units (seconds, bytes). */
const NON_BASE_UNITS = ['ms', 'milliseconds', 'kb', 'mb', 'mib', 'minutes', 'hours'];

/** Every convention a metric breaks, as `name: why`. */
function nameProblems(metrics: readonly MetricJson[]): string[] {
  const problems: string[] = [];
  for (const m of metrics) {
    const why = (text: string) => problems.push(`${m.name} (${m.type}): ${text}`);
    if (!m.name.startsWith('edge_gateway_')) why('does not start with edge_gateway_');
    if (m.name.includes('edge_gateway_process_process')) why('carries the process_ prefix twice');
    const segments = m.name.split('_');
    const doubled = segments.find((s, i) => i > 0 && s === segments[i - 1]);
    if (doubled !== undefined) why(`repeats the word "${doubled}"`);
    // A prefix applied twice: edge_gateway_edge_gateway_…, edge_gateway_nodejs_…_nodejs_ directly after itself.
    for (let n = 2; n <= segments.length / 2; n++) {
      for (let i = 0; i + 2 * n <= segments.length; i++) {
        if (segments.slice(i, i + n).join('_') === segments.slice(i + n, i + 2 * n).join('_')) why(`repeats "${segments.slice(i, i + n).join('_')}_"`);
      }
    }
    const total = m.name.endsWith('_total');
    if (m.type === 'counter' && !total) why('is a counter without _total');
    if ((m.type === 'gauge' || m.type === 'histogram') && total && !STANDARD_GAUGES_NAMED_TOTAL.has(m.name)) why(`is a ${m.type} named _total (a count since start is a counter)`);
    if (!m.help || m.help.trim() === '') why('has no help text');
    const unit = segments.find((s) => NON_BASE_UNITS.includes(s.toLowerCase()));
    if (unit !== undefined) why(`uses the unit "${unit}" (base units only: seconds, bytes)`);
    if (m.name.endsWith('_build_info')) {
      if (m.type !== 'gauge') why('build_info is not a gauge');
      const labelled = m.values.filter((v) => typeof v.labels.version === 'string' && v.labels.version !== '' && typeof v.labels.node === 'string' && v.labels.node !== '');
      if (m.values.length !== 1 || labelled.length !== 1) why('build_info needs exactly one series with the labels version and node');
      if (m.values.some((v) => v.value !== 1)) why('build_info is not 1');
    }
  }
  return problems;
}

function brokerStats(refusedMaxClients: number, deniedPublish: number): NonNullable<GatewayStatus['broker']> {
  return {
    clients: 3, connecting: 1, connectionsDropped: 2,
    refused: { anonymous: 1, bad_login: 2, max_clients: refusedMaxClients, max_clients_per_ip: 0, reserved_client_id: 1 },
    denied: { publish: deniedPublish, subscribe: 1 },
    disconnected: { user_removed: 1, password_changed: 0, anonymous_refused: 0 },
    closed: { connect_timeout: 1, connect_too_large: 0, packet_too_large: 0, malformed_packet: 0 },
  };
}

/** A status with every part present (embedded broker, http.users, a driver with counters), so that every series appears. */
function gatewayStatus(broker = brokerStats(4, 5)): GatewayStatus {
  const now = new Date().toISOString();
  return {
    site: { group: 'plant', node: 'line-1' },
    startedAt: now, now,
    ready: { ready: true, reasons: [] },
    devices: [
      { name: 'press-07', driver: 'modbus-tcp', state: 'up', lastPollAt: now, lastError: null, polls: 10, errors: 1, tags: [{ name: 't', value: 1, quality: 'good', timestamp: now }] },
      { name: 'boiler', driver: 'mqtt-json', state: 'down', lastPollAt: null, lastError: 'no message', polls: 0, errors: 0, tags: [], counters: { messages: 3, invalid_json: 1 } },
    ],
    journal: {
      records: 12, bytes: 3400, fileBytes: 8192, oldestAgeMs: 1500, nextSeq: 13, dropped: { max_bytes: 0, max_age: 1 }, quarantined: null, damaged: null,
      checksumMismatches: 0, captured: 12, captureRate: 1, waiting: 0, commitDueAt: null, writeError: null,
      maxBytes: 1_000_000, maxBytesPercent: null, roomBytes: 5_000_000, samplesPerSec: 2, bytesPerSample: 14.2, capacityHours: 10, capacity: '10 h',
    },
    uplink: {
      state: 'up', since: now, target: 'kafka:9092/t', forwarded: 7, deadLettered: 1, lastAckAt: now, lastError: null,
      throughput: 1, lastLatencyMs: 40, client: 'kafkajs', compression: 'lz4', wireBytes: 900, wireBytesPerSample: 12.5,
    },
    sparkplug: {
      state: 'online', bdSeq: 0, published: 20, rebirths: 1, rebirthsIgnored: 0, writes: 2, commandsRefused: 1, refusalLinesSuppressed: 0,
      retainedCommandsIgnored: 0, held: 0, heldDropped: 0, historicalPublished: 0, primaryHost: null, server: 'mqtt://127.0.0.1:1883',
      servers: ['mqtt://127.0.0.1:1883'], serverSwitches: 0, connectFailures: 0, brokerClients: 3,
    },
    broker,
    http: { refused: { no_login: 1, bad_login: 0 } },
  };
}

async function scrape(registry: Registry): Promise<MetricJson[]> {
  return (await registry.getMetricsAsJSON()) as unknown as MetricJson[];
}

const value = (metrics: readonly MetricJson[], name: string, labels: Record<string, string> = {}) =>
  metrics.find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;

describe('/metrics names', () => {
  it('follow Prometheus conventions, every one of them', async () => {
    const metrics = await scrape(createMetrics(() => gatewayStatus()).registry);
    expect(metrics.length).toBeGreaterThan(40);
    const problems = nameProblems(metrics);
    expect(problems, `metrics that break the naming conventions:\n  ${problems.join('\n  ')}`).toEqual([]);
  });

  it('carry Node\'s process metrics under their standard names, the prefix once', async () => {
    const names = (await scrape(createMetrics(() => gatewayStatus()).registry)).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([
      'edge_gateway_process_cpu_seconds_total', 'edge_gateway_process_resident_memory_bytes', 'edge_gateway_process_start_time_seconds',
      'edge_gateway_nodejs_heap_size_used_bytes', 'edge_gateway_nodejs_eventloop_lag_seconds', 'edge_gateway_nodejs_gc_duration_seconds',
    ]));
    expect(names.filter((n) => n.includes('process_process'))).toEqual([]);
  });

  it('edge_gateway_build_info tells the package.json version and the Node.js version', async () => {
    const metrics = await scrape(createMetrics(() => gatewayStatus()).registry);
    const info = metrics.find((m) => m.name === 'edge_gateway_build_info');
    expect(info?.type).toBe('gauge');
    expect(info?.values).toEqual([{ value: 1, labels: { version: PACKAGE_VERSION, node: process.version } }]);
  });

  it('the broker\'s refusals and denials are counters that follow the status', async () => {
    let broker = brokerStats(4, 5);
    const { registry } = createMetrics(() => gatewayStatus(broker));
    let metrics = await scrape(registry);
    expect(metrics.find((m) => m.name === 'edge_gateway_broker_connections_refused_total')?.type).toBe('counter');
    expect(metrics.find((m) => m.name === 'edge_gateway_broker_denied_total')?.type).toBe('counter');
    expect(value(metrics, 'edge_gateway_broker_connections_refused_total', { reason: 'max_clients' })).toBe(4);
    expect(value(metrics, 'edge_gateway_broker_connections_refused_total', { reason: 'too_many_open' })).toBe(2);
    expect(value(metrics, 'edge_gateway_broker_denied_total', { action: 'publish' })).toBe(5);
    expect(value(metrics, 'edge_gateway_broker_denied_total', { action: 'subscribe' })).toBe(1);
    expect(metrics.map((m) => m.name)).not.toContain('edge_gateway_broker_refused_connections');
    expect(metrics.map((m) => m.name)).not.toContain('edge_gateway_broker_denied');
    broker = brokerStats(6, 9);
    await new Promise((resolve) => setTimeout(resolve, 250)); // past the status cached for one scrape
    metrics = await scrape(registry);
    expect(value(metrics, 'edge_gateway_broker_connections_refused_total', { reason: 'max_clients' })).toBe(6);
    expect(value(metrics, 'edge_gateway_broker_denied_total', { action: 'publish' })).toBe(9);
  });

  it('the check itself catches each kind of mistake, by name', async () => {
    const registry = new Registry();
    const registers = [registry];
    new Counter({ name: 'edge_gateway_broker_refused', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_things_total', help: 'x', registers });
    new Histogram({ name: 'edge_gateway_wait_total', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_process_process_heap_bytes', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_edge_gateway_up', help: 'x', registers });
    new Gauge({ name: 'other_up', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_no_help', help: ' ', registers });
    new Gauge({ name: 'edge_gateway_latency_ms', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_journal_mb', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_capacity_hours', help: 'x', registers });
    new Gauge({ name: 'edge_gateway_build_info', help: 'x', labelNames: ['version'], registers }).set({ version: '1' }, 1);
    new Gauge({ name: 'edge_gateway_fine_seconds', help: 'x', registers });
    const problems = nameProblems(await scrape(registry));
    const named = (name: string) => problems.filter((p) => p.startsWith(`${name} `));
    for (const name of ['edge_gateway_broker_refused', 'edge_gateway_things_total', 'edge_gateway_wait_total', 'edge_gateway_process_process_heap_bytes',
      'edge_gateway_edge_gateway_up', 'other_up', 'edge_gateway_no_help', 'edge_gateway_latency_ms', 'edge_gateway_journal_mb', 'edge_gateway_capacity_hours',
      'edge_gateway_build_info']) {
      expect(named(name), name).not.toEqual([]);
    }
    expect(named('edge_gateway_fine_seconds')).toEqual([]);
  });
});
