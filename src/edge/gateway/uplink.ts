// The gateway's uplink: the Kafka client chosen for uplink.kafka (librdkafka, or kafkajs where the native client is
// not built) and the forwarder that moves the journal through it. Restarted as a whole when a reload changes it;
// the journal keeps every record the old one had not delivered.
import type { Logger } from 'pino';
import { Forwarder } from '../../uplink/forwarder.js';
import type { Journal, JournalRecord } from '../../uplink/journal/journal.js';
import { chooseClient } from '../../uplink/kafka/client-choice.js';
import { permanentKafkaError } from '../../uplink/kafka/errors.js';
import { createKafkaSink } from '../../uplink/kafka/kafkajs-sink.js';
import { createLibrdkafkaSink } from '../../uplink/kafka/librdkafka-sink.js';
import type { UplinkSink } from '../../uplink/sink.js';
import type { GatewayConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import { iso, type UplinkStatus } from './status.js';

export class Uplink {
  private forwarder: Forwarder | undefined;
  private sink: UplinkSink | undefined;
  /** Said once: the native client would have been the default but is not built here. */
  private fallbackLogged = false;

  constructor(
    private readonly journal: Journal,
    private readonly site: { group: string; node: string },
    private readonly log: Logger,
    /** Each batch Kafka acknowledged, for /metrics. */
    private readonly onAcked: (batch: readonly JournalRecord[]) => void,
  ) {}

  start(c: GatewayConfig): void {
    const kafka = c.uplink.kafka;
    const { group, node } = this.site;
    if (!kafka) {
      this.log.warn('No uplink configured: the journal keeps everything until one is.');
      // What waits for an uplink that does not exist yet is held back like an outage's backlog: historical once sent.
      this.journal.setHeldBack(true);
      this.forwarder = undefined;
      return;
    }
    const clientId = `edge-gateway-${group}-${node}`;
    const choice = chooseClient(kafka);
    if (kafka.client === undefined && choice.unavailable && !this.fallbackLogged) {
      this.fallbackLogged = true;
      this.log.warn({ err: choice.unavailable }, 'The native Kafka client (librdkafka) is not available here; the uplink runs on kafkajs. Set uplink.kafka.client to choose.');
    }
    // The uplink reads its SASL secret through the edge's secrets (password_file, password_env) when it connects.
    const secret = () => readSecret(kafka.sasl ?? {}, 'uplink.kafka.sasl');
    const sink = choice.client === 'librdkafka' ? createLibrdkafkaSink(kafka, clientId, this.log, secret) : createKafkaSink(kafka, clientId, this.log, secret);
    this.log.info({ client: sink.client, compression: sink.compression, uplink: sink.target }, `Uplink through ${sink.client}, ${sink.compression === 'none' ? 'uncompressed' : `compressed with ${sink.compression}`}.`);
    this.sink = sink;
    const f = new Forwarder(this.journal, sink, { node: `${group}/${node}`, batchSize: kafka.batch_size, replay: c.buffer.replay, replayRate: c.buffer.replay_rate, isPermanent: permanentKafkaError, onAcked: this.onAcked }, this.log);
    f.start();
    this.forwarder = f;
  }

  /** Stops the forwarder, waiting up to `ms` for the batch in flight. */
  async stop(ms: number): Promise<void> {
    await this.forwarder?.stop(ms);
  }

  /** Records Kafka acknowledged since this uplink started. */
  forwarded(): number {
    return this.forwarder?.getStatus().forwarded ?? 0;
  }

  status(throughput: number, deadLettered: number, lastLatencyMs: number | null): UplinkStatus {
    const f = this.forwarder?.getStatus();
    if (!f) return { state: 'disabled', since: null, target: null, forwarded: 0, deadLettered, lastAckAt: null, lastError: null, throughput: 0, lastLatencyMs: null, client: null, compression: null, wireBytes: 0, wireBytesPerSample: null };
    // The running client's bytes on the wire per sample it forwarded (both start again at a reload).
    const bytes = this.sink?.wireBytes() ?? 0;
    return {
      state: f.state, since: iso(f.since), target: f.target, forwarded: f.forwarded, deadLettered, lastAckAt: iso(f.lastAckAt), lastError: f.lastError, throughput, lastLatencyMs,
      client: this.sink?.client ?? null, compression: this.sink?.compression ?? null, wireBytes: bytes, wireBytesPerSample: f.forwardedSamples > 0 ? bytes / f.forwardedSamples : null,
    };
  }
}
