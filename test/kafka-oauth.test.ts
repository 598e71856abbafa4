// The Kafka uplink through SASL/OAUTHBEARER with OIDC client credentials, as managed Kafka services offer it: a
// real Kafka broker checking JWTs with its own validator against the keys of a small identity provider of the
// test's own. On both clients: librdkafka fetches its tokens itself, kafkajs through the gateway's provider. A
// wrong client secret is an error naming the key, loses nothing, and heals once the secret file is right.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingSites } from './helpers/counting-site.js';
import { consumeAll, startKafka, topicSize, type KafkaBroker } from './helpers/kafka.js';
import { waitFor } from './helpers/net.js';
import { startIdentityProvider, type TestIdentityProvider } from './helpers/oidc.js';

const SECRET = 'gw7-Client-Secret-93af';
const WRONG = 'not-the-client-secret';
const AUDIENCE = 'kafka-test-cluster';
let kafka: KafkaBroker;
let idp: TestIdentityProvider;
let dir: string;
const sites = countingSites();

beforeAll(async () => {
  idp = await startIdentityProvider({ 'gw-7': SECRET }, { audience: AUDIENCE });
  kafka = await startKafka({ security: { oauth: { jwksUrl: idp.jwksUrl, audience: AUDIENCE } } });
  dir = mkdtempSync(join(tmpdir(), 'kafka-oauth-'));
});

afterAll(async () => {
  await sites.close();
  await kafka?.stop();
  await idp?.close();
  for (const g of sites.gateways) {
    const logs = g.logs();
    expect(logs.includes(SECRET), `${g.logFile} holds the client secret`).toBe(false);
    expect(logs.includes(WRONG), `${g.logFile} holds a client secret`).toBe(false);
    for (const t of idp.tokens) expect(logs.includes(t.split('.')[2]!), `${g.logFile} holds a token`).toBe(false);
  }
});

const gateway = (topic: string, client: string, secretFile: string) => sites.gateway(kafka.listeners.saslPlaintext!, topic, [
  `client: ${client}`,
  `sasl: { mechanism: oauthbearer, token_endpoint: "${idp.tokenUrl}", client_id: gw-7, scope: kafka.produce, password_file: ${secretFile} }`,
]);

describe.each(['librdkafka', 'kafkajs'] as const)('Kafka uplink through OAUTHBEARER (OIDC client credentials), client %s', (client) => {
  it('forwards every record with a token from the identity provider, and names the key when the secret is wrong until the file is fixed', async () => {
    const secretFile = join(dir, `${client}.secret`);
    writeFileSync(secretFile, `${WRONG}\n`);
    const topic = `oauth.${client}`;
    const refusedBefore = idp.refused;
    const g = await gateway(topic, client, secretFile);
    // A wrong secret: the identity provider refuses; the gateway says which key to look at and keeps every record.
    await waitFor('the refused token request to show', async () => {
      const s = await g.status();
      return idp.refused > refusedBefore && s.uplink.state !== 'up' && String(s.uplink.lastError ?? '').startsWith('uplink.kafka.sasl');
    }, 60_000, 200);
    expect((await g.status()).journal.records).toBeGreaterThan(0);
    expect(g.logLines().some((l) => l.level === 50 && String(l.err ?? l.msg).includes('uplink.kafka.sasl'))).toBe(true);

    // The right secret, without a restart.
    const issuedBefore = idp.issued;
    writeFileSync(secretFile, `${SECRET}\n`);
    await waitFor('records forwarded with a token', async () => (await g.status()).uplink.forwarded >= 10, 90_000, 200);
    expect(idp.issued).toBeGreaterThan(issuedBefore);
    const { nextSeq } = (await g.status()).journal;
    await waitFor('the journal to drain', async () => (await g.status()).journal.records === 0, 30_000, 200);
    // Stopped first: records still arriving while the topic is read by count would stand in for older ones.
    expect(await g.stop()).toBe(0);
    // The whole topic, not a count of seqs: a record sent twice (at-least-once) would stand in for another.
    const records = await consumeAll(kafka.bootstrap, topic, { expected: await topicSize(kafka.bootstrap, topic), timeoutMs: 30_000 });
    const seqs = [...new Set(records.map((r) => Number(r.headers['edge.seq'])))].sort((a, b) => a - b);
    expect(seqs.slice(0, nextSeq - 1)).toEqual(Array.from({ length: nextSeq - 1 }, (_, i) => i + 1));
  });
});
