import { CompressionTypes, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaConfig } from '../edge/config/schema.js';
import type { OutRecord, UplinkSink } from './sink.js';

/**
 * Kafka through kafkajs. Its own retries are kept short: the forwarder retries forever with its own backoff and
 * logs an outage once, so kafkajs's per-attempt error logs go to debug.
 */
export function createKafkaSink(config: KafkaConfig, clientId: string, log: Logger): UplinkSink {
  const requestTimeout = 15000;
  const kafka = new Kafka({
    clientId: config.client_id ?? clientId,
    brokers: config.brokers,
    connectionTimeout: 3000,
    requestTimeout,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, label, log: entry }) => {
      const { message, ...rest } = entry;
      log.debug({ kafkajs: namespace, level: label, ...rest }, message);
    },
  });
  let producer: Producer | undefined;
  let connected = false;

  /**
   * One connect or send, bounded by the request timeout. A network cut that sends no FIN and no RST leaves
   * kafkajs's connections open: a request times out, and kafkajs retries it on the same dead connection, for
   * minutes. So an attempt that fails or takes too long throws away the producer and its connections; the
   * forwarder's next attempt starts over with fresh ones. (What a stuck produce request carried may still reach
   * Kafka when the network returns: at-least-once, a duplicate batch.)
   */
  async function bounded<T>(p: Producer, what: string, op: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Kafka ${what}: no answer within ${requestTimeout} ms`)), requestTimeout);
    });
    try {
      return await Promise.race([op, timeout]);
    } catch (err) {
      if (producer === p) {
        producer = undefined;
        connected = false;
      }
      // Now, to end the retries on the dead connection; again once the abandoned call settled, should it have
      // connected after all.
      p.disconnect().catch(() => undefined);
      op.catch(() => undefined).then(() => p.disconnect()).catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    target: `${config.brokers.join(',')}/${config.topic}`,
    async connect() {
      if (connected && producer) return;
      if (!producer) {
        const p = kafka.producer({
          createPartitioner: Partitioners.DefaultPartitioner,
          allowAutoTopicCreation: true,
          // No delivery timeout discards data here: a failed send is retried by the forwarder, forever.
          retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 2000 },
        });
        p.on(p.events.DISCONNECT, () => {
          if (producer === p) connected = false;
        });
        producer = p;
      }
      const p = producer;
      await bounded(p, 'connect', p.connect());
      if (producer === p) connected = true;
    },
    async send(records) {
      const p = producer;
      if (!p || !connected) throw new Error('not connected');
      await bounded(
        p,
        'produce',
        p.send({
          topic: config.topic,
          acks: -1,
          compression: CompressionTypes.None,
          messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        }),
      );
    },
    async disconnect() {
      const p = producer;
      producer = undefined;
      connected = false;
      if (p) await p.disconnect().catch(() => undefined);
    },
  };
}
