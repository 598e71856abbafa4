// Which Kafka failures no retry can cure: the records are set aside (dead-lettered) instead of blocking the queue.

const PERMANENT = new Set([
  'MESSAGE_TOO_LARGE', // one record above the topic's max.message.bytes
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
]);

/** The kafkajs protocol error type behind `err` (kafkajs wraps causes), if any is permanent. */
export function permanentKafkaError(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && PERMANENT.has(type)) return type;
    e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
  return undefined;
}
