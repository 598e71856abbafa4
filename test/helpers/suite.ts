// Per-file set-up shared by the integration tests: one Kafka broker for the file, and clean-ups run in reverse.
import { afterAll, beforeAll } from 'vitest';
import { startKafka, type KafkaBroker } from './kafka.js';

/** Clean-ups registered during the tests, run last-first after the file's tests. */
export function cleanupAfterAll(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return cleanups;
}

/** A real Kafka broker for the whole file; `kafka()` returns it inside tests. */
export function kafkaForFile(): () => KafkaBroker {
  let broker: KafkaBroker | undefined;
  beforeAll(async () => {
    broker = await startKafka();
  });
  afterAll(async () => {
    await broker?.stop();
  });
  return () => {
    if (!broker) throw new Error('Kafka did not start (see the beforeAll error)');
    return broker;
  };
}
