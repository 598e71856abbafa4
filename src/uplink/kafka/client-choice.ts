// Which Kafka client an uplink runs on here, and what it compresses with: the one place that decides, for the
// gateway and for `validate`.
import type { KafkaConfig } from './config.js';
import { defaultCompression, type Compression } from './compressions.js';
import { loadLibrdkafka } from './librdkafka-sink.js';

export interface ClientChoice {
  client: 'kafkajs' | 'librdkafka';
  compression: Compression;
  /** librdkafka's version, where it loads. */
  librdkafka?: string;
  /** Why the native client cannot be loaded, where it was asked for or would have been the default. */
  unavailable?: string;
}

/** The client named, or librdkafka where it loads and kafkajs where it does not. */
export function chooseClient(kafka: Pick<KafkaConfig, 'client' | 'compression'>): ClientChoice {
  let librdkafka: string | undefined;
  let unavailable: string | undefined;
  if (kafka.client !== 'kafkajs') {
    try {
      librdkafka = loadLibrdkafka().librdkafkaVersion;
    } catch (err) {
      unavailable = (err as Error).message;
    }
  }
  const client = kafka.client ?? (librdkafka ? 'librdkafka' : 'kafkajs');
  return { client, compression: kafka.compression ?? defaultCompression(client), ...(librdkafka ? { librdkafka } : {}), ...(unavailable ? { unavailable } : {}) };
}
