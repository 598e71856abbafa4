// The one interface the forwarder sees of the cloud. kafkajs lives behind it, in kafka-sink.ts only.

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
}
