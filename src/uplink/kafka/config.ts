// The uplink's config keys (`uplink.kafka` in gateway.yaml): brokers, topic, client, compression, TLS and SASL. The
// uplink owns them; src/edge/config composes them into the gateway's schema. Secrets are named here (a file or an
// environment variable) and read by the edge, which passes the uplink a function that reads them when it connects.
import { z } from 'zod';
import { kafkajsCompressions } from './compressions.js';

const secretSourceKeys = {
  // A file holding the secret (a trailing line end is ignored). Relative: in $CREDENTIALS_DIRECTORY (systemd
  // LoadCredential=) when set, else in the working directory.
  password_file: z.string().min(1).optional(),
  // An environment variable holding the secret.
  password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name').optional(),
};

const kafkaTls = z
  .strictObject({
    // The CA that signed the brokers' certificates (PEM); the system's CAs when absent.
    ca_file: z.string().min(1).optional(),
    // The gateway's client certificate and key (PEM), for brokers that ask for one (ssl.client.auth=required).
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    // false accepts any broker certificate: for tests only, it defeats TLS.
    reject_unauthorized: z.boolean().default(true),
    // The name the brokers' certificates are checked against, when it differs from the bootstrap host.
    servername: z.string().min(1).optional(),
  })
  .superRefine((tls, ctx) => {
    if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: [tls.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'cert_file and key_file go together' });
    }
  });

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

const OAUTH_KEYS = ['token_endpoint', 'client_id', 'scope', 'extensions'] as const;

const kafkaSasl = z
  .strictObject({
    mechanism: z.enum(SASL_MECHANISMS),
    // PLAIN and SCRAM: the Kafka user; its password from password_file or password_env.
    username: z.string().min(1).optional(),
    // OAUTHBEARER (OIDC client credentials, as managed Kafka services use it): the identity provider's token
    // endpoint, this gateway's client id there, and its client secret from password_file or password_env.
    token_endpoint: z.url({ protocol: /^https?$/ }).optional(),
    client_id: z.string().min(1).optional(),
    // The scope to ask for, and SASL extensions some services want (Confluent Cloud: logicalCluster, identityPoolId).
    scope: z.string().min(1).optional(),
    extensions: z.record(z.string().regex(/^[A-Za-z]+$/, 'an extension name is letters only'), z.string().min(1)).optional(),
    ...secretSourceKeys,
  })
  .superRefine((sasl, ctx) => {
    const given = [sasl.password_file, sasl.password_env].filter((v) => v !== undefined).length;
    const secret = sasl.mechanism === 'oauthbearer' ? 'the client secret' : 'the password';
    if (given !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of password_file, password_env (${given} given): ${secret} itself never goes in this file` });
    if (sasl.mechanism === 'oauthbearer') {
      if (sasl.username !== undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: 'oauthbearer logs in with client_id and a token from token_endpoint, not a username' });
      for (const key of ['token_endpoint', 'client_id'] as const) {
        if (sasl[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `mechanism oauthbearer needs ${key}` });
      }
    } else {
      if (sasl.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: `mechanism ${sasl.mechanism} needs username` });
      for (const key of OAUTH_KEYS) {
        if (sasl[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is for mechanism oauthbearer only` });
      }
    }
  });

const kafkaSecurityKeys = {
  // TLS to the brokers: `tls: true` with the system's CAs, or the object above.
  tls: z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), kafkaTls.optional()),
  sasl: kafkaSasl.optional(),
};

export const kafkaSchema = z
  .strictObject({
    brokers: z.array(z.string().min(1)).min(1),
    topic: z.string().min(1).default('iot.telemetry.raw'),
    client_id: z.string().min(1).optional(),
    batch_size: z.number().int().min(1).max(100_000).default(1000),
    // The client behind the uplink: librdkafka (native, built at install; the default where it loads) or
    // kafkajs (pure JavaScript). Absent: librdkafka, or kafkajs where the native client is not installed.
    client: z.enum(['kafkajs', 'librdkafka']).optional(),
    // Compression on the wire: zstd unless told otherwise (client kafkajs: zstd where Node.js has it, else gzip).
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).optional(),
    ...kafkaSecurityKeys,
  })
  .superRefine((kafka, ctx) => {
    if (kafka.client !== 'kafkajs' || kafka.compression === undefined) return;
    if (!kafkajsCompressions().includes(kafka.compression)) {
      const why = kafka.compression === 'zstd' ? `zstd with client kafkajs needs Node.js 22.15 or later (this is ${process.version})` : `${kafka.compression} needs client: librdkafka`;
      ctx.addIssue({ code: 'custom', path: ['compression'], message: `${why}; client kafkajs sends ${kafkajsCompressions().join(', ')}` });
    }
  });

export type KafkaConfig = z.output<typeof kafkaSchema>;
export type KafkaSaslConfig = NonNullable<KafkaConfig['sasl']>;

/**
 * Reads the SASL password (PLAIN, SCRAM) or the OIDC client secret at the moment a connection needs it, so a rotated
 * secret is taken up without a restart. Its error names the config key, never the value.
 */
export type SaslSecret = () => string;

/** A SaslSecret for a config without SASL: asking it is a mistake of the caller's. */
export const noSaslSecret: SaslSecret = () => {
  throw new Error('uplink.kafka.sasl: no secret reader was given for this config');
};
