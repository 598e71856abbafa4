// What the status API, the status page, /metrics and `edge-gateway status` read of a running gateway: one shape,
// GatewayStatus, put together here from each part's own figures at the moment it is asked for, so that none of
// them can disagree with another.
import type { Sample } from '../../drivers/types.js';
import type { JournalBound, ResolvedBound } from '../../uplink/journal/capacity.js';
import { capacityHours } from '../../uplink/journal/capacity.js';
import type { Journal, JournalProgress, OpenedJournal } from '../../uplink/journal/journal.js';
import type { BrokerStats } from '../broker/server.js';
import { capacityText } from '../capacity-text.js';
import type { HttpAccessStats } from '../http/auth.js';
import { readiness, type Readiness, type ReadinessCheck } from '../http/status-page/health.js';
import type { HistorySample, StatusHistory } from '../http/status-page/history.js';
import type { PollerProgress } from '../poller.js';
import type { EdgeNode } from '../sparkplug/edge-node.js';

export interface DeviceStatus {
  name: string; driver: string; state: string; lastPollAt: string | null; lastError: string | null; polls: number; errors: number;
  /** The latest polled value of every tag; quality `stale` while the device does not answer. */
  tags: Array<{ name: string; value: Sample['value']; quality: Sample['quality']; timestamp: string }>;
  /** The driver's own event counts since start, when it keeps any (mqtt-json: messages, invalid_json, …). */
  counters?: Readonly<Record<string, number>>;
}

export interface UplinkStatus {
  state: string; since: string | null; target: string | null; forwarded: number; deadLettered: number; lastAckAt: string | null; lastError: string | null;
  /** Records acknowledged per second over the last minute; capture-to-acknowledgement time of the last batch's newest record. */
  throughput: number; lastLatencyMs: number | null;
  /** The Kafka client and the compression it sends; bytes sent on the wire since start, and per sample forwarded. */
  client: string | null; compression: string | null; wireBytes: number; wireBytesPerSample: number | null;
}

export interface GatewayStatus {
  site: { group: string; node: string };
  startedAt: string;
  /** The gateway's clock when it answered (a laptop's clock may differ). */
  now: string;
  ready: Readiness;
  devices: DeviceStatus[];
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
  uplink: UplinkStatus;
  sparkplug: ReturnType<EdgeNode['status']> & { brokerClients: number | null };
  /** The embedded broker's refusals and denials; null when the broker runs elsewhere. */
  broker: BrokerStats | null;
  /** Status page logins refused (http.users); null when anyone may read it. */
  http: HttpAccessStats | null;
}

/** Cheap counters for the systemd watchdog (service/watchdog.ts): is capture and polling moving? */
export interface GatewayProgress {
  journal: JournalProgress;
  devices: Array<{ name: string } & PollerProgress>;
}

/** The parts a status is read from, each asked at the moment the status is. */
export interface StatusParts {
  site: { group: string; node: string };
  startedAt: Date;
  checks: readonly ReadinessCheck[];
  journal: Journal;
  opened: Pick<OpenedJournal, 'quarantined' | 'damaged'>;
  /** Set while the journal's writes fail. */
  journalError(): string | undefined;
  /** buffer.max_bytes as configured now, and what it came to when last measured. */
  bound(): { setting: JournalBound; resolved: ResolvedBound };
  devices(): DeviceStatus[];
  uplink(rates: { forwardedPerSec: number }, deadLettered: number): UplinkStatus;
  edge: EdgeNode;
  brokerClients(): number | null;
  brokerStats(): BrokerStats | null;
  httpStats(): HttpAccessStats | null;
  history: StatusHistory;
  /** The figures of a history point, taken now. */
  sample(records: number): HistorySample;
}

export function gatewayStatus(p: StatusParts): GatewayStatus {
  const j = p.journal.stats();
  const now = p.sample(j.records);
  const rates = p.history.ratesAt(now);
  const { quarantined, damaged } = p.opened;
  return {
    site: p.site,
    startedAt: p.startedAt.toISOString(),
    now: new Date(now.t).toISOString(),
    ready: readiness(p.checks),
    devices: p.devices(),
    journal: {
      records: j.records, bytes: j.bytes, fileBytes: j.fileBytes, oldestAgeMs: j.oldestCapturedAt === null ? null : Date.now() - j.oldestCapturedAt, nextSeq: j.nextSeq, dropped: j.dropped, quarantined: quarantined?.movedTo ?? null,
      damaged: damaged ? { why: damaged.why, count: damaged.count, ranges: damaged.ranges.slice(0, 100) } : null, checksumMismatches: j.checksumMismatches,
      captured: now.captured, captureRate: rates.capturedPerSec, waiting: j.queued, commitDueAt: iso(p.journal.progress().dueAt), writeError: p.journalError() ?? null,
      ...capacityOf(p.bound(), j.maxBytes, j.bytesPerSample, rates.samplesPerSec),
    },
    uplink: p.uplink(rates, j.deadLetters),
    sparkplug: { ...p.edge.status(), brokerClients: p.brokerClients() },
    broker: p.brokerStats(),
    http: p.httpStats(),
  };
}

/** The journal's bound and the hours it holds at the current capture rate. */
function capacityOf(bound: { setting: JournalBound; resolved: ResolvedBound }, maxBytes: number | null, bytesPerSample: number | null, samplesPerSec: number) {
  const hours = maxBytes !== null && bytesPerSample !== null ? capacityHours(maxBytes, bytesPerSample, samplesPerSec) : null;
  return {
    maxBytes, maxBytesPercent: typeof bound.setting === 'number' ? null : bound.setting.percent, roomBytes: bound.resolved.room,
    samplesPerSec, bytesPerSample, capacityHours: hours, capacity: capacityText(hours, samplesPerSec),
  };
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
