// Which Kafka failures no retry can cure: the records are set aside (dead-lettered) instead of blocking the queue.
// And what a refused login says, for both clients.
import type { Logger } from 'pino';
import type { KafkaConfig, KafkaSaslConfig } from './config.js';

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

/** A refused login, naming what to check (never a secret). */
export function refusedLogin(sasl: KafkaSaslConfig, why: string): string {
  const secret = sasl.password_file !== undefined ? 'password_file' : 'password_env';
  if (sasl.mechanism === 'oauthbearer') {
    return `uplink.kafka.sasl: Kafka refused the login of client "${sasl.client_id}" (OAUTHBEARER): ${why}. Check client_id, the client secret in ${secret}, token_endpoint, scope, and what the brokers expect of a token.`;
  }
  return `uplink.kafka.sasl: Kafka refused the login of "${sasl.username}" (${sasl.mechanism.toUpperCase()}): ${why}. Check the user, the password in ${secret}, and the mechanism the listener enables.`;
}

/** Said once at start: a password or token in clear text, or a cluster whose certificate is not checked. */
export function warnInsecure(config: KafkaConfig, log: Logger): void {
  if ((config.sasl?.mechanism === 'plain' || config.sasl?.mechanism === 'oauthbearer') && !config.tls) {
    const what = config.sasl.mechanism === 'plain' ? 'PLAIN without uplink.kafka.tls sends the password' : 'OAUTHBEARER without uplink.kafka.tls sends the token';
    log.warn({ uplink: config.brokers.join(',') }, `uplink.kafka.sasl: ${what} in clear text over the network.`);
  }
  if (config.tls && !config.tls.reject_unauthorized) {
    log.warn('uplink.kafka.tls.reject_unauthorized is false: any server can pose as the Kafka cluster.');
  }
}
