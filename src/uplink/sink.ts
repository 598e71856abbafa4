// The one interface the forwarder sees of the cloud. The Kafka clients live behind it: kafkajs in kafka/kafkajs-sink.ts,
// librdkafka in kafka/librdkafka-sink.ts.

export interface OutRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
  /** The record's Kafka timestamp (CreateTime): when it was captured, ms since the epoch. */
  timestamp: number;
}

export interface UplinkSink {
  /** Connects if not connected; rejects when the cluster cannot be reached. */
  connect(): Promise<void>;
  /** Resolves only once every record was acknowledged by all in-sync replicas (acks=all). */
  send(records: readonly OutRecord[]): Promise<void>;
  disconnect(): Promise<void>;
  /** Where it points, for logs and the status page (never credentials). */
  readonly target: string;
  /** The client library behind it, and the compression it sends. */
  readonly client: 'kafkajs' | 'librdkafka';
  readonly compression: string;
  /** Bytes sent to the cluster since start: requests as they go on the wire, compressed, with their framing. */
  wireBytes(): number;
  /**
   * Batches the forwarder may have in flight at once. More than one only where the client keeps order across
   * them (the idempotent producer numbers every record per partition).
   */
  readonly maxInFlight: number;
}
