// The Kafka uplink through SASL (SCRAM-SHA-256/512, PLAIN) and TLS (a CA of the test's own, a client certificate)
// against a real Kafka broker with those listeners. A refused login is logged as an error naming the key to fix,
// shows in the status, loses nothing, and heals by itself once the password file is right.
import Database from 'better-sqlite3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { countingSites } from './helpers/counting-site.js';
import type { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, startKafka, type ConsumedRecord, type KafkaBroker } from './helpers/kafka.js';
import { sleep, waitFor } from './helpers/net.js';

const PASSWORD = 'gw-Kafka-Secret-2b7e';
const WRONG = 'not-the-Kafka-Password';
let kafka: KafkaBroker;
let certs: TestCerts;
let dir: string;
const sites = countingSites();

beforeAll(async () => {
  certs = makeTestCerts();
  kafka = await startKafka({ security: { users: [{ name: 'gw', password: PASSWORD }], certs } });
  dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
  writeFileSync(join(dir, 'kafka.pass'), `${PASSWORD}\n`);
  process.env.TEST_KAFKA_PASSWORD = PASSWORD;
});

afterAll(async () => {
  await sites.close();
  await kafka?.stop();
  for (const g of sites.gateways) {
    expect(g.logs().includes(PASSWORD), `${g.logFile} holds the Kafka password`).toBe(false);
    expect(g.logs().includes(WRONG), `${g.logFile} holds a password`).toBe(false);
  }
});

/** A gateway polling a PLC whose counter moves every 100 ms, forwarding to Kafka with `kafkaYaml` (indented keys). */
const gateway = (topic: string, bootstrap: string, kafkaYaml: string[]) => sites.gateway(bootstrap, topic, kafkaYaml);

const seqs = (records: ConsumedRecord[]) => records.map((r) => Number(r.headers['edge.seq'])).sort((a, b) => a - b);

/**
 * Stops the gateway; then every record it captured is in the topic or still in its journal (a record whose send
 * the stop cut short): together edge.seq 1..N, each once.
 */
async function expectAllDelivered(g: GatewayProcess, topic: string): Promise<void> {
  await waitFor('records forwarded', async () => (await g.status()).uplink.forwarded >= 10, 60_000, 200);
  await g.stop();
  const db = new Database(join(g.dir, 'data', 'journal.db'), { readonly: true });
  const kept = db.prepare('SELECT seq FROM records ORDER BY seq').all().map((r) => (r as { seq: number }).seq);
  const nextSeq = (db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: number }).value;
  db.close();
  const delivered = seqs(await consumeAll(kafka.bootstrap, topic, { expected: nextSeq - 1 - kept.length, timeoutMs: 60_000 }));
  expect(delivered.length).toBeGreaterThanOrEqual(10);
  expect([...delivered, ...kept].sort((a, b) => a - b)).toEqual(Array.from({ length: nextSeq - 1 }, (_, i) => i + 1));
}

describe('Kafka uplink security', () => {
  const cases: Array<{ name: string; listener: () => string; yaml: () => string[] }> = [
    { name: 'SASL/SCRAM-SHA-512 (password_file) on SASL_PLAINTEXT', listener: () => kafka.listeners.saslPlaintext!, yaml: () => [`sasl: { mechanism: scram-sha-512, username: gw, password_file: ${join(dir, 'kafka.pass')} }`] },
    { name: 'SASL/SCRAM-SHA-256 (password_env) over TLS (SASL_SSL, ca_file)', listener: () => kafka.listeners.saslSsl!, yaml: () => ['sasl: { mechanism: scram-sha-256, username: gw, password_env: TEST_KAFKA_PASSWORD }', `tls: { ca_file: ${certs.caFile} }`] },
    { name: 'SASL/PLAIN over TLS (SASL_SSL)', listener: () => kafka.listeners.saslSsl!, yaml: () => [`sasl: { mechanism: plain, username: gw, password_file: ${join(dir, 'kafka.pass')} }`, `tls: { ca_file: ${certs.caFile} }`] },
    { name: 'TLS with a client certificate (SSL listener, ssl.client.auth=required)', listener: () => kafka.listeners.ssl!, yaml: () => [`tls: { ca_file: ${certs.caFile}, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey} }`] },
  ];
  for (const [i, c] of cases.entries()) {
    it(`forwards every record through ${c.name}`, async () => {
      const topic = `security.case${i}`;
      const g = await gateway(topic, c.listener(), c.yaml());
      await expectAllDelivered(g, topic);
    });
  }

  it('a wrong SASL password: an error naming uplink.kafka.sasl, the status says so, the journal keeps every record, and a fixed password file heals it', async () => {
    const passFile = join(dir, 'wrong.pass');
    writeFileSync(passFile, WRONG);
    const topic = 'security.wrong-password';
    const g = await gateway(topic, kafka.listeners.saslPlaintext!, [`sasl: { mechanism: scram-sha-512, username: gw, password_file: ${passFile} }`]);
    const error = await waitFor('the login error logged', () => g.logLines().find((l) => l.level === 50 && String(l.err).startsWith('uplink.kafka.sasl:')), 30_000);
    expect(error.err).toContain('Kafka refused the login of "gw" (SCRAM-SHA-512)');
    expect(error.msg).toContain('The journal keeps every record');
    const down = await waitFor('the uplink down in the status', async () => {
      const s = await g.status();
      return s.uplink.state === 'down' ? s : undefined;
    }, 30_000, 250);
    expect(down.uplink.lastError).toContain('uplink.kafka.sasl: Kafka refused the login of "gw"');
    expect(down.uplink.forwarded).toBe(0);
    const held = down.journal.records;
    expect(held).toBeGreaterThan(0);
    // Logged once, not once per retry.
    await sleep(3000);
    expect(g.logLines().filter((l) => String(l.err).startsWith('uplink.kafka.sasl:') && l.level === 50)).toHaveLength(1);
    expect((await g.status()).journal.records).toBeGreaterThan(held);

    // The password file is corrected: the next retry reads it, no restart needed, and nothing was lost.
    writeFileSync(passFile, PASSWORD);
    await waitFor('the uplink up again', async () => (await g.status()).uplink.state === 'up', 60_000, 250);
    await expectAllDelivered(g, topic);
  });

  it('a broker certificate the gateway does not trust: an error naming uplink.kafka.tls', async () => {
    const g = await gateway('security.untrusted', kafka.listeners.ssl!, [`tls: { ca_file: ${certs.serverCert}, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey} }`]);
    const error = await waitFor('the TLS error logged', () => g.logLines().find((l) => l.level === 50 && String(l.err).startsWith('uplink.kafka.tls:')), 30_000);
    expect(error.err).toContain('the TLS connection to Kafka failed');
    expect((await g.status()).uplink.forwarded).toBe(0);
  });
});
