import { readFileSync } from 'node:fs';
import { connect, isIP, type Socket } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, Partitioners, type CompressionTypes, type ISocketFactory, type Producer, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { noSaslSecret, type KafkaConfig, type SaslSecret } from './config.js';
import { defaultCompression } from './compressions.js';
import { kafkajsCompression } from './kafkajs-codecs.js';
import { oidcTokenProvider } from './oidc.js';
import { refusedLogin, warnInsecure } from './errors.js';
import type { OutRecord, UplinkSink } from '../sink.js';

/**
 * Kafka through kafkajs. Its own retries are kept short: the forwarder retries forever with its own backoff and
 * logs an outage once, so kafkajs's per-attempt error logs go to debug.
 */
export function createKafkaSink(config: KafkaConfig, clientId: string, log: Logger, secret: SaslSecret = noSaslSecret): UplinkSink {
  return new KafkajsSink(config, clientId, log, secret);
}

const requestTimeout = 15000;

class KafkajsSink implements UplinkSink {
  readonly target: string;
  readonly client = 'kafkajs' as const;
  readonly compression: string;
  // One batch at a time: kafkajs's producer is not idempotent here, and a second batch could overtake a retried
  // one and break per-partition order.
  readonly maxInFlight = 1;
  private readonly codec: CompressionTypes;
  private producer: Producer | undefined;
  private connected = false;
  /** Bytes written by the sockets already closed, and the sockets open now. */
  private closedBytes = 0;
  private readonly open = new Set<Socket>();
  /** The last configuration error logged, so that a retry loop logs it once, not once per attempt. */
  private loggedProblem: string | undefined;

  constructor(
    private readonly config: KafkaConfig,
    private readonly clientId: string,
    private readonly log: Logger,
    private readonly secret: SaslSecret,
  ) {
    warnInsecure(config, log);
    const compression = config.compression ?? defaultCompression('kafkajs');
    this.compression = compression;
    this.codec = kafkajsCompression(compression);
    this.target = `${config.brokers.join(',')}/${config.topic}`;
  }

  wireBytes = (): number => [...this.open].reduce((n, s) => n + s.bytesWritten, this.closedBytes);

  async connect(): Promise<void> {
    if (this.connected && this.producer) return;
    if (!this.producer) this.producer = this.newProducer();
    const p = this.producer;
    try {
      await this.bounded(p, 'connect', p.connect());
    } catch (err) {
      throw this.problem(err as Error);
    }
    if (this.producer === p) this.connected = true;
    this.loggedProblem = undefined;
  }

  async send(records: readonly OutRecord[]): Promise<void> {
    const p = this.producer;
    if (!p || !this.connected) throw new Error('not connected');
    await this.bounded(
      p,
      'produce',
      p.send({
        topic: this.config.topic,
        acks: -1,
        compression: this.codec,
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: String(r.timestamp) })),
      }),
    );
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.connected = false;
    if (p) await p.disconnect().catch(() => undefined);
  }

  private newProducer(): Producer {
    let kafka: Kafka;
    try {
      kafka = this.newKafka();
    } catch (err) {
      throw this.problem(err as Error);
    }
    const p = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
      // No delivery timeout discards data here: a failed send is retried by the forwarder, forever.
      retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    p.on(p.events.DISCONNECT, () => {
      if (this.producer === p) this.connected = false;
    });
    return p;
  }

  /**
   * A client per producer: the TLS files and the SASL password are read afresh whenever the connection is built
   * again, so a fixed password file or a renewed certificate is taken up at the next retry, without a restart.
   */
  private newKafka(): Kafka {
    const log = this.log;
    return new Kafka({
      clientId: this.config.client_id ?? this.clientId,
      brokers: this.config.brokers,
      ssl: tlsOptions(this.config),
      sasl: saslOptions(this.config, this.secret),
      connectionTimeout: 3000,
      requestTimeout,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: logLevel.WARN,
      socketFactory: this.countingSockets,
      logCreator: () => ({ namespace, label, log: entry }) => {
        const { message, ...rest } = entry;
        log.debug({ kafkajs: namespace, level: label, ...rest }, message);
      },
    });
  }

  // kafkajs's own socket factory, counting what goes on the wire (kafkajs reports only response sizes).
  private readonly countingSockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket: Socket = ssl
      ? tls.connect({ host, port, ...(!isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.closedBytes += socket.bytesWritten;
    });
    return socket;
  };

  /**
   * One connect or send, bounded by the request timeout. A network cut that sends no FIN and no RST leaves
   * kafkajs's connections open: a request times out, and kafkajs retries it on the same dead connection, for
   * minutes. So an attempt that fails or takes too long throws away the producer and its connections; the
   * forwarder's next attempt starts over with fresh ones. (What a stuck produce request carried may still reach
   * Kafka when the network returns: at-least-once, a duplicate batch.)
   */
  private async bounded<T>(p: Producer, what: string, op: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Kafka ${what}: no answer within ${requestTimeout} ms`)), requestTimeout);
    });
    try {
      return await Promise.race([op, timeout]);
    } catch (err) {
      if (this.producer === p) {
        this.producer = undefined;
        this.connected = false;
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

  /**
   * A refused login or a failed TLS handshake is the config's fault, not the network's: its error names the key
   * to fix and is logged as an error once (the forwarder keeps retrying and the journal keeps every record).
   */
  private problem(err: Error): Error {
    const explained = explain(err, this.config);
    if (!explained.message.startsWith('uplink.kafka.')) return err;
    if (this.loggedProblem !== explained.message) {
      this.loggedProblem = explained.message;
      this.log.error({ uplink: this.config.brokers.join(','), err: explained.message }, `${explained.message} The journal keeps every record until the uplink connects.`);
    }
    return explained;
  }
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function tlsOptions(config: KafkaConfig): ConnectionOptions | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  return {
    rejectUnauthorized: tls.reject_unauthorized,
    ...(tls.ca_file ? { ca: [readPem(tls.ca_file, 'uplink.kafka.tls.ca_file')] } : {}),
    ...(tls.cert_file ? { cert: readPem(tls.cert_file, 'uplink.kafka.tls.cert_file') } : {}),
    ...(tls.key_file ? { key: readPem(tls.key_file, 'uplink.kafka.tls.key_file') } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

function saslOptions(config: KafkaConfig, secret: SaslSecret): SASLOptions | undefined {
  const sasl = config.sasl;
  if (!sasl) return undefined;
  if (sasl.mechanism === 'oauthbearer') return { mechanism: 'oauthbearer', oauthBearerProvider: oidcTokenProvider(sasl, secret) };
  return { mechanism: sasl.mechanism, username: sasl.username!, password: secret() } as SASLOptions;
}

const TLS_FAILURE = /certificate|self[- ]signed|SSL|TLS|handshake|unable to verify|altnames|ERR_TLS/i;

/** The error again, with the config key to look at when the cause is the login, the TLS set-up or a secret. */
function explain(err: Error, config: KafkaConfig): Error {
  if (err.message.startsWith('uplink.kafka.')) return err; // a secret or a PEM file that cannot be read
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError) chain.push(e);
  const auth = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError' || /SASL .*authentication failed|Authentication failed/i.test(e.message));
  if (auth && config.sasl) {
    return new Error(refusedLogin(config.sasl, auth.message), { cause: err });
  }
  const tlsFailure = chain.find((e) => TLS_FAILURE.test(e.message) || /^ERR_TLS|CERT|^UNABLE_TO/.test(String((e as NodeJS.ErrnoException).code ?? '')));
  if (tlsFailure && config.tls) {
    return new Error(`uplink.kafka.tls: the TLS connection to Kafka failed: ${tlsFailure.message}. Check ca_file, cert_file/key_file and the brokers' certificate names.`, { cause: err });
  }
  return err;
}
