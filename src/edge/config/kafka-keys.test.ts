// uplink.kafka's client, compression and SASL keys: what is taken, and what is refused at its file:line:col.
import { describe, expect, it } from 'vitest';
import { chooseClient } from '../../uplink/kafka/client-choice.js';
import { kafkajsCompressions } from '../../uplink/kafka/compressions.js';
import { librdkafkaConfig } from '../../uplink/kafka/librdkafka-sink.js';
import { readSecret } from './secrets.js';
import { parseConfig } from './load.js';
import { problems } from './test-fixtures.js';

const withKafka = (lines: string[]) => ['site: { group: plant, node: gw }', 'uplink:', '  kafka:', '    brokers: [kafka-1:9092]', ...lines.map((l) => `    ${l}`)].join('\n') + '\n';

describe('uplink.kafka keys', () => {
  it('leaves the client to the machine and compresses with zstd unless told otherwise', () => {
    const kafka = parseConfig(withKafka([]), 'gw.yaml').uplink.kafka!;
    expect(kafka.client).toBeUndefined();
    expect(kafka.compression).toBeUndefined();
    expect(librdkafkaConfig(kafka, 'gw')['compression.type']).toBe('zstd');
    // Absent: librdkafka where it loads, kafkajs where it does not; a named client is kept either way.
    const auto = chooseClient(kafka);
    expect(auto.client).toBe(auto.unavailable ? 'kafkajs' : 'librdkafka');
    expect(auto.compression).toBe(auto.client === 'librdkafka' ? 'zstd' : kafkajsCompressions().includes('zstd') ? 'zstd' : 'gzip');
    expect(chooseClient({ client: 'kafkajs', compression: undefined })).toEqual({ client: 'kafkajs', compression: kafkajsCompressions().includes('zstd') ? 'zstd' : 'gzip' });
    expect(chooseClient({ client: 'librdkafka', compression: 'lz4' })).toMatchObject({ client: 'librdkafka', compression: 'lz4' });
  });

  it('refuses lz4 with client kafkajs, naming what it can send', () => {
    expect(problems(withKafka(['client: kafkajs', 'compression: lz4']))).toEqual([
      `gw.yaml:6:18 uplink.kafka.compression: lz4 needs client: librdkafka; client kafkajs sends ${kafkajsCompressions().join(', ')}`,
    ]);
    expect(problems(withKafka(['client: kafkajs', 'compression: snappy']))).toEqual([]);
    expect(problems(withKafka(['client: librdkafka', 'compression: lz4']))).toEqual([]);
  });

  it('takes OAUTHBEARER with OIDC client credentials, and maps it for librdkafka with the secret read from its file', () => {
    process.env.TEST_OIDC_SECRET = 's3cr3t';
    const kafka = parseConfig(withKafka([
      'sasl:',
      '  mechanism: oauthbearer',
      '  token_endpoint: https://login.example.com/oauth2/token',
      '  client_id: gw-7',
      '  password_env: TEST_OIDC_SECRET',
      '  scope: kafka',
      '  extensions: { logicalCluster: lkc-1, identityPoolId: pool-2 }',
    ]), 'gw.yaml').uplink.kafka!;
    expect(librdkafkaConfig(kafka, 'gw', () => readSecret(kafka.sasl!, 'uplink.kafka.sasl'))).toMatchObject({
      'sasl.mechanisms': 'OAUTHBEARER', 'sasl.oauthbearer.method': 'oidc', 'sasl.oauthbearer.client.id': 'gw-7', 'sasl.oauthbearer.client.secret': 's3cr3t',
      'sasl.oauthbearer.token.endpoint.url': 'https://login.example.com/oauth2/token', 'sasl.oauthbearer.scope': 'kafka',
      'sasl.oauthbearer.extensions': 'logicalCluster=lkc-1,identityPoolId=pool-2', 'security.protocol': 'sasl_plaintext',
    });
    expect(librdkafkaConfig(kafka, 'gw', () => 'unused')['sasl.username']).toBeUndefined();
  });

  it('names what OAUTHBEARER lacks, and what belongs to another mechanism, at its key', () => {
    expect(problems(withKafka(['sasl: { mechanism: oauthbearer, client_id: gw-7, password_env: X }']))).toEqual([
      'gw.yaml:5:11 uplink.kafka.sasl.token_endpoint: mechanism oauthbearer needs token_endpoint',
    ]);
    expect(problems(withKafka(['sasl: { mechanism: oauthbearer, token_endpoint: "ftp://idp/token", client_id: gw-7, username: gw, password_env: X }'])).map((p) => p.replace(/:\d+:\d+ /, ' '))).toEqual([
      expect.stringMatching(/^gw\.yaml uplink\.kafka\.sasl\.token_endpoint: /),
      'gw.yaml uplink.kafka.sasl.username: oauthbearer logs in with client_id and a token from token_endpoint, not a username',
    ]);
    expect(problems(withKafka(['sasl: { mechanism: scram-sha-512, username: gw, client_id: gw-7, password_env: X }']))).toEqual([
      'gw.yaml:5:64 uplink.kafka.sasl.client_id: client_id is for mechanism oauthbearer only',
    ]);
    expect(problems(withKafka(['sasl: { mechanism: plain, password_env: X }']))).toEqual([
      'gw.yaml:5:11 uplink.kafka.sasl.username: mechanism plain needs username',
    ]);
  });
});
