// Kafka through librdkafka (@confluentinc/kafka-javascript's native Producer, delivery reports per record). The
// package is a native addon built at install; it is loaded only when `uplink.kafka.client: librdkafka` asks for
// it, so that a platform where it could not be built still runs on kafkajs. Its types stop at this file: the
// forwarder sees the uplink interface only.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { noSaslSecret, type KafkaConfig, type SaslSecret } from './config.js';
import { refusedLogin, warnInsecure } from './errors.js';
import { defaultCompression } from './compressions.js';
import type { OutRecord, UplinkSink } from '../sink.js';

/** What this file uses of the native client. */
interface RdError extends Error {
  code: number;
  isFatal?: boolean;
}
interface RdReport {
  opaque?: unknown;
}
interface RdProducer {
  connect(options: { timeout?: number }, cb: (err: RdError | null) => void): void;
  disconnect(timeout: number, cb: (err?: RdError | null) => void): void;
  produce(topic: string, partition: number | null, value: Buffer, key: string, timestamp: number, opaque: unknown, headers: Array<Record<string, string>>): unknown;
  setPollInterval(ms: number): void;
  getMetadata(options: { timeout?: number }, cb: (err: RdError | null) => void): void;
  on(event: 'delivery-report', fn: (err: RdError | null, report: RdReport) => void): void;
  on(event: 'event.error', fn: (err: RdError) => void): void;
  on(event: 'event.stats', fn: (stats: { message: string }) => void): void;
  on(event: 'event.log', fn: (line: { severity: number; fac: string; message: string }) => void): void;
}
interface RdModule {
  Producer: new (conf: Record<string, unknown>) => RdProducer;
  librdkafkaVersion: string;
  features: string[];
}

/** Kafka protocol error codes (librdkafka passes the broker's code on) the forwarder treats as permanent. */
const PERMANENT_CODES: Record<number, string> = {
  2: 'CORRUPT_MESSAGE',
  10: 'MESSAGE_TOO_LARGE',
  17: 'INVALID_TOPIC_EXCEPTION',
  18: 'RECORD_LIST_TOO_LARGE',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  44: 'POLICY_VIOLATION',
  87: 'INVALID_RECORD',
};
/** librdkafka's local codes for a refused login and a failed TLS handshake. */
const ERR_AUTHENTICATION = -169;
const ERR_SSL = -181;
/** The local queue is full: wait for deliveries, then produce again. */
const ERR_QUEUE_FULL = -184;
/**
 * No broker of the cluster can be reached: what waits for delivery is failed at once, not after its timeout.
 * librdkafka's code is -187; the client's error events carry -1 and the message only.
 */
const ERR_ALL_BROKERS_DOWN = -187;
const allBrokersDown = (err: RdError) => err.code === ERR_ALL_BROKERS_DOWN || /all broker connections are down/i.test(err.message);

const MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512', oauthbearer: 'OAUTHBEARER' } as const;

let loaded: RdModule | undefined;

/** The native client, or an error that says how to get it (or to fall back). */
export function loadLibrdkafka(): RdModule {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as RdModule;
    return loaded;
  } catch (err) {
    throw new Error(
      `uplink.kafka.client: librdkafka needs @confluentinc/kafka-javascript, which is not installed or not built for this Node.js (${(err as Error).message.split('\n')[0]}). ` +
        'Install Debian\'s zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev and run `CKJS_LINKING=dynamic npm install`, or set uplink.kafka.client: kafkajs.',
    );
  }
}

/** librdkafka's producer configuration for the uplink's keys (the SASL secret read now, never logged). */
export function librdkafkaConfig(config: KafkaConfig, clientId: string, secret: SaslSecret = noSaslSecret): Record<string, unknown> {
  const tls = config.tls;
  const sasl = config.sasl;
  const conf: Record<string, unknown> = {
    'bootstrap.servers': config.brokers.join(','),
    'client.id': config.client_id ?? clientId,
    // Idempotent: acks=all, per-partition order and no duplicates from librdkafka's own retries.
    'enable.idempotence': true,
    acks: 'all',
    'compression.type': config.compression ?? defaultCompression('librdkafka'),
    'linger.ms': 5,
    'batch.num.messages': 10_000,
    // A delivery that fails within this is retried by the forwarder from the journal, which still holds it.
    'message.timeout.ms': 15_000,
    'request.timeout.ms': 10_000,
    'socket.keepalive.enable': true,
    'socket.connection.setup.timeout.ms': 5_000,
    'allow.auto.create.topics': true,
    dr_cb: true,
    // Warnings and worse, as events (to the debug log): a token the identity provider refused is only logged.
    log_level: 4,
    event_cb: true,
    // Bytes on the wire, for /metrics: librdkafka counts what it sent to each broker.
    'statistics.interval.ms': 1000,
  };
  if (sasl) {
    conf['sasl.mechanisms'] = MECHANISMS[sasl.mechanism];
    if (sasl.mechanism === 'oauthbearer') {
      // librdkafka fetches and renews the token itself (client credentials grant).
      conf['sasl.oauthbearer.method'] = 'oidc';
      conf['sasl.oauthbearer.token.endpoint.url'] = sasl.token_endpoint;
      conf['sasl.oauthbearer.client.id'] = sasl.client_id;
      conf['sasl.oauthbearer.client.secret'] = secret();
      if (sasl.scope) conf['sasl.oauthbearer.scope'] = sasl.scope;
      if (sasl.extensions) conf['sasl.oauthbearer.extensions'] = Object.entries(sasl.extensions).map(([k, v]) => `${k}=${v}`).join(',');
    } else {
      conf['sasl.username'] = sasl.username;
      conf['sasl.password'] = secret();
    }
  }
  conf['security.protocol'] = tls ? (sasl ? 'sasl_ssl' : 'ssl') : sasl ? 'sasl_plaintext' : 'plaintext';
  if (tls) {
    if (tls.ca_file) conf['ssl.ca.location'] = tls.ca_file;
    if (tls.cert_file) conf['ssl.certificate.location'] = tls.cert_file;
    if (tls.key_file) conf['ssl.key.location'] = tls.key_file;
    conf['enable.ssl.certificate.verification'] = tls.reject_unauthorized;
    conf['ssl.endpoint.identification.algorithm'] = tls.reject_unauthorized ? 'https' : 'none';
  }
  return conf;
}

interface Batch {
  /** The producer it was handed to: a batch outlives no producer. */
  producer: RdProducer;
  left: number;
  error: RdError | undefined;
  done(err?: RdError): void;
}

/**
 * The client takes headers as an array of one-key objects, reading each one's key and value anew per message.
 * Most of a record's headers are the same for every record (edge.node, edge.historical, edge.schema): those
 * objects are made once and shared, which makes a produce some 20% cheaper (bare producer, 4 headers).
 */
const sharedHeaders = new Map<string, Record<string, string>>();
const MAX_SHARED_HEADERS = 256;
/** Headers whose value changes with every record: never shared. */
const PER_RECORD = new Set(['edge.seq']);

export function headerList(headers: Readonly<Record<string, string>>): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const k in headers) {
    const v = headers[k]!;
    if (PER_RECORD.has(k)) {
      out.push({ [k]: v });
      continue;
    }
    const id = `${k}\u0000${v}`;
    let h = sharedHeaders.get(id);
    if (!h) {
      h = { [k]: v };
      if (sharedHeaders.size < MAX_SHARED_HEADERS) sharedHeaders.set(id, h);
    }
    out.push(h);
  }
  return out;
}

export function createLibrdkafkaSink(config: KafkaConfig, clientId: string, log: Logger, secret: SaslSecret = noSaslSecret): UplinkSink {
  const rd = loadLibrdkafka();
  warnInsecure(config, log);
  if (config.tls?.servername) log.warn('uplink.kafka.tls.servername is not used by client librdkafka: the certificate is checked against the broker\'s host name.');
  let producer: RdProducer | undefined;
  let connected = false;
  let loggedProblem: string | undefined;
  /** What librdkafka last logged of a token, a login or a TLS handshake that failed, until a connect succeeds. */
  let refused: { token?: string; login?: string; tls?: string } = {};
  /** Bytes sent by producers thrown away, and by the current one as its last statistics said. */
  let wireBytesBefore = 0;
  let wireBytesNow = 0;
  const sentBy = new WeakMap<RdProducer, number>();
  /** Batches waiting for their delivery reports, and a connect under way: failed together when Kafka goes away. */
  const pending = new Set<Batch>();
  let connecting: ((err: RdError) => void) | undefined;
  let opening: Promise<void> | undefined;
  /** Producers with a metadata request under way, asked whether every broker is really gone. */
  const checking = new WeakSet<RdProducer>();

  /** A refused login or a failed TLS handshake is the config's fault: named, and logged once. */
  function problem(err: RdError): Error {
    let explained: Error = err;
    if (refused.token && config.sasl?.mechanism === 'oauthbearer') {
      explained = new Error(`uplink.kafka.sasl: no token from the identity provider for client "${config.sasl.client_id}": ${refused.token}. Check token_endpoint, client_id, scope and the client secret in ${config.sasl.password_file !== undefined ? 'password_file' : 'password_env'}.`, { cause: err });
    } else if ((err.code === ERR_AUTHENTICATION || refused.login) && config.sasl) {
      explained = new Error(refusedLogin(config.sasl, refused.login ?? err.message), { cause: err });
    } else if ((err.code === ERR_SSL || refused.tls) && config.tls) {
      explained = new Error(`uplink.kafka.tls: the TLS connection to Kafka failed: ${refused.tls ?? err.message}. Check ca_file, cert_file/key_file and the brokers' certificate names.`, { cause: err });
    }
    // Once per key at fault until a connect succeeds: librdkafka words the same refusal differently between tries.
    const key = explained.message.split(':')[0];
    if (explained !== err && loggedProblem !== key) {
      loggedProblem = key;
      log.error({ uplink: config.brokers.join(','), err: explained.message }, `${explained.message} The journal keeps every record until the uplink connects.`);
    }
    return explained;
  }

  /** Throws the producer away: the next connect starts over with fresh connections. */
  function drop(p: RdProducer): void {
    abandon(p, 'the Kafka producer was restarted after a failed delivery');
    if (sentBy.has(p)) {
      wireBytesBefore += sentBy.get(p)!;
      sentBy.delete(p);
      if (producer === p) wireBytesNow = 0;
    }
    if (producer === p) {
      producer = undefined;
      connected = false;
    }
    try {
      p.disconnect(2000, () => undefined);
    } catch {
      // never connected: nothing to close
    }
  }

  /**
   * Fails the batches still waiting on a producer that is being thrown away: their reports may never come. (What
   * it still delivers while closing arrives twice: at-least-once.)
   */
  function abandon(p: RdProducer, why: string): void {
    for (const batch of [...pending]) if (batch.producer === p) batch.done(Object.assign(new Error(why), { code: -1 }) as RdError);
  }

  /** The error of a failed delivery, with the protocol error's name where the forwarder must not retry it. */
  function deliveryError(err: RdError): Error {
    const type = PERMANENT_CODES[err.code];
    return Object.assign(new Error(`Kafka refused a record: ${err.message}`, { cause: err }), type ? { type } : {});
  }

  /** Builds the producer (again, after one was thrown away) and connects it. */
  async function open(): Promise<void> {
    let p = producer;
    if (!p) {
      let conf: Record<string, unknown>;
      try {
        conf = librdkafkaConfig(config, clientId, secret);
      } catch (err) {
        throw problem(err as RdError);
      }
      p = new rd.Producer(conf);
      p.on('delivery-report', (err, report) => {
        const batch = report.opaque as Batch | undefined;
        if (!batch) return;
        if (err && !batch.error) batch.error = err;
        batch.left -= 1;
        if (batch.left === 0) batch.done(batch.error);
      });
      const created = p;
      sentBy.set(created, 0);
      created.on('event.log', ({ fac, message }) => {
        log.debug({ kafka: 'librdkafka', fac }, message);
        // librdkafka only logs why a connection failed (its connect reports a transport failure): kept, to name
        // the config key at fault when the connect fails.
        const text = message.replace(/^\[thrd:[^\]]*\]: /, '').slice(0, 300);
        if (fac === 'OIDC' || /OAUTHBEARER token/i.test(text)) refused.token = text;
        else if (/SASL authentication (error|failed)|Authentication failed/i.test(text)) refused.login = text;
        else if (/SSL handshake failed|certificate verify failed/i.test(text)) refused.tls = text;
      });
      created.on('event.stats', ({ message }) => {
        if (!sentBy.has(created)) return;
        try {
          const brokers = (JSON.parse(message) as { brokers?: Record<string, { txbytes?: number }> }).brokers ?? {};
          const sent = Object.values(brokers).reduce((n, b) => n + (b.txbytes ?? 0), 0);
          sentBy.set(created, sent);
          if (producer === created) wireBytesNow = sent;
        } catch {
          // statistics are for /metrics only
        }
      });
      created.on('event.error', (err) => {
        log.debug({ kafka: 'librdkafka', code: err.code, err: err.message }, 'librdkafka reports an error');
        // A fatal error (the idempotent producer's state is lost) ends this producer, and so does the loss of
        // every broker: the forwarder then reports the outage and retries from the journal, with a new producer.
        const end = () => {
          // A producer thrown away before still reports for a while: it ends only what was its own.
          const current = producer === created;
          for (const batch of [...pending]) if (batch.producer === created) batch.done(err);
          drop(created);
          if (current) connecting?.(err);
        };
        if (err.isFatal) return end();
        // A refused login (or a token the identity provider would not give) ends a connect under way at once,
        // with the error that names the key to fix, instead of its timeout.
        if (err.code === ERR_AUTHENTICATION && connecting && producer === created) return end();
        if (!allBrokersDown(err) || producer !== created) return;
        if (connecting) return end();
        // librdkafka reports what it queued before it was first polled with the first polls after connecting:
        // an outage counts only once a metadata request fails too. One request at a time: librdkafka repeats
        // the event every few hundred ms, and each request holds a thread of Node's pool until its timeout,
        // where the next producer's connect would wait behind them.
        if (checking.has(created)) return;
        checking.add(created);
        try {
          created.getMetadata({ timeout: 2000 }, (failed) => {
            checking.delete(created);
            if (failed && producer === created) end();
          });
        } catch {
          checking.delete(created);
          end();
        }
      });
      producer = p;
    }
    const attempt = p;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: RdError | null) => {
        if (settled) return;
        settled = true;
        connecting = undefined;
        if (!err) return resolve();
        drop(attempt);
        reject(problem(err));
      };
      connecting = settle;
      // As long as kafkajs waits for a connection: librdkafka reports a refused one only when polled, after this.
      attempt.connect({ timeout: 3_000 }, settle);
    });
    if (producer !== attempt) throw new Error('the uplink was disconnected while it connected');
    attempt.setPollInterval(5);
    connected = true;
    loggedProblem = undefined;
    refused = {};
  }

  return {
    target: `${config.brokers.join(',')}/${config.topic}`,
    client: 'librdkafka',
    compression: config.compression ?? defaultCompression('librdkafka'),
    // Idempotent: the broker takes each partition's records in the order they were numbered, whatever the batch.
    maxInFlight: 4,
    wireBytes: () => wireBytesBefore + wireBytesNow,
    async connect() {
      if (connected && producer) return;
      // One connect at a time: the batches in flight all wait for the same one (a producer connected twice at
      // once may never answer the second).
      opening ??= open().finally(() => {
        opening = undefined;
      });
      return opening;
    },
    async send(records: readonly OutRecord[]) {
      const p = producer;
      if (!p || !connected) throw new Error('not connected');
      if (records.length === 0) return;
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const batch: Batch = {
          producer: p,
          left: records.length,
          error: undefined,
          done: (err) => {
            if (settled) return;
            settled = true;
            pending.delete(batch);
            if (err) reject(allBrokersDown(err) ? new Error(`Kafka: ${err.message}`, { cause: err }) : deliveryError(err));
            else resolve();
          },
        };
        pending.add(batch);
        const produce = (i: number): void => {
          for (; i < records.length; i++) {
            const r = records[i]!;
            const headers = headerList(r.headers);
            try {
              p.produce(config.topic, null, Buffer.from(r.value), r.key, r.timestamp, batch, headers);
            } catch (err) {
              if ((err as RdError).code === ERR_QUEUE_FULL) {
                setTimeout(() => produce(i), 20);
                return;
              }
              // Refused before sending (too large for the client, say): this record and those not produced
              // yet count as failed once what is in flight has reported.
              batch.error ??= err as RdError;
              batch.left -= records.length - i;
              if (batch.left === 0) batch.done(batch.error);
              return;
            }
          }
        };
        produce(0);
      }).catch((err: Error) => {
        // A failed delivery may leave the idempotent producer in a state only a new one clears.
        if (!(err as { type?: string }).type) drop(p);
        throw err;
      });
    },
    async disconnect() {
      const p = producer;
      producer = undefined;
      connected = false;
      if (!p) return;
      abandon(p, 'the uplink was stopped');
      wireBytesBefore += sentBy.get(p) ?? 0;
      sentBy.delete(p);
      wireBytesNow = 0;
      await new Promise<void>((resolve) => {
        try {
          p.disconnect(3000, () => resolve());
        } catch {
          resolve();
        }
      });
    },
  };
}
