import { CompressionTypes, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaConfig } from '../edge/config/schema.js';
import type { OutRecord, UplinkSink } from './sink.js';

/**
 * Kafka through kafkajs. Its own retries are kept short: the forwarder retries forever with its own backoff and
 * logs an outage once, so kafkajs's per-attempt error logs go to debug.
 */
export function createKafkaSink(config: KafkaConfig, clientId: string, log: Logger): UplinkSink {
  const kafka = new Kafka({
    clientId: config.client_id ?? clientId,
    brokers: config.brokers,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, label, log: entry }) => {
      const { message, ...rest } = entry;
      log.debug({ kafkajs: namespace, level: label, ...rest }, message);
    },
  });
  let producer: Producer | undefined;
  let connected = false;

  return {
    target: `${config.brokers.join(',')}/${config.topic}`,
    async connect() {
      if (connected && producer) return;
      if (!producer) {
        producer = kafka.producer({
          createPartitioner: Partitioners.DefaultPartitioner,
          allowAutoTopicCreation: true,
          // No delivery timeout discards data here: a failed send is retried by the forwarder, forever.
          retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 2000 },
        });
        producer.on(producer.events.DISCONNECT, () => {
          connected = false;
        });
      }
      await producer.connect();
      connected = true;
    },
    async send(records) {
      if (!producer || !connected) throw new Error('not connected');
      await producer.send({
        topic: config.topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
      });
    },
    async disconnect() {
      const p = producer;
      producer = undefined;
      connected = false;
      if (p) await p.disconnect().catch(() => undefined);
    },
  };
}
