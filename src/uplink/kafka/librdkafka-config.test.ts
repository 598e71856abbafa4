import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kafkajsCompressions } from './compressions.js';
import { kafkaSchema } from './config.js';
import { headerList, librdkafkaConfig } from './librdkafka-sink.js';

const kafkaOf = (yaml: string) => kafkaSchema.parse(parse(yaml));

describe('librdkafka producer configuration', () => {
  it('is idempotent with acks=all, zstd by default, plaintext without security keys', () => {
    const conf = librdkafkaConfig(kafkaOf('{ brokers: [a:9092, b:9092], client: librdkafka }'), 'edge-gateway-g-n');
    expect(conf).toMatchObject({
      'bootstrap.servers': 'a:9092,b:9092', 'client.id': 'edge-gateway-g-n', 'enable.idempotence': true, acks: 'all',
      'compression.type': 'zstd', 'security.protocol': 'plaintext', dr_cb: true,
    });
    expect(librdkafkaConfig(kafkaOf('{ brokers: [a:9092], client: librdkafka, compression: lz4 }'), 'x')['compression.type']).toBe('lz4');
  });

  it('maps TLS and SASL to librdkafka keys, asking the secret reader it is given for the password', () => {
    const secret = () => 's3cret';
    const conf = librdkafkaConfig(kafkaOf(`{ brokers: [a:9093], client: librdkafka, tls: { ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem }, sasl: { mechanism: scram-sha-512, username: gw, password_file: pw } }`), 'x', secret);
    expect(conf).toMatchObject({
      'security.protocol': 'sasl_ssl', 'sasl.mechanisms': 'SCRAM-SHA-512', 'sasl.username': 'gw', 'sasl.password': 's3cret',
      'ssl.ca.location': '/etc/ca.pem', 'ssl.certificate.location': '/etc/c.pem', 'ssl.key.location': '/etc/k.pem',
      'enable.ssl.certificate.verification': true, 'ssl.endpoint.identification.algorithm': 'https',
    });
    expect(librdkafkaConfig(kafkaOf(`{ brokers: [a:9092], client: librdkafka, sasl: { mechanism: plain, username: gw, password_file: pw } }`), 'x', secret)).toMatchObject({ 'security.protocol': 'sasl_plaintext', 'sasl.mechanisms': 'PLAIN' });
    expect(librdkafkaConfig(kafkaOf('{ brokers: [a:9093], client: librdkafka, tls: { reject_unauthorized: false } }'), 'x')).toMatchObject({ 'security.protocol': 'ssl', 'enable.ssl.certificate.verification': false, 'ssl.endpoint.identification.algorithm': 'none' });
  });

  it('refuses a codec kafkajs cannot send, at the compression key', () => {
    expect(() => kafkaOf('{ brokers: [a:9092], client: kafkajs, compression: lz4 }')).toThrow(/"compression"[^]*lz4 needs client: librdkafka/);
    const zstd = () => kafkaOf('{ brokers: [a:9092], client: kafkajs, compression: zstd }');
    if (kafkajsCompressions().includes('zstd')) expect(zstd().compression).toBe('zstd');
    else expect(zstd).toThrow(/"compression"[^]*zstd with client kafkajs needs Node\.js 22\.15 or later/);
    expect(kafkaOf('{ brokers: [a:9092], client: kafkajs, compression: snappy }').compression).toBe('snappy');
    expect(kafkaOf('{ brokers: [a:9092], compression: lz4 }').compression).toBe('lz4');
  });
});

describe('headers handed to the client', () => {
  it('are every header of the record, in order, with the objects of values that repeat shared between records', () => {
    const a = headerList({ 'edge.node': 'g/n', 'edge.seq': '41', 'edge.historical': 'false', 'edge.schema': '1' });
    const b = headerList({ 'edge.node': 'g/n', 'edge.seq': '42', 'edge.historical': 'true', 'edge.schema': '1' });
    expect(a).toEqual([{ 'edge.node': 'g/n' }, { 'edge.seq': '41' }, { 'edge.historical': 'false' }, { 'edge.schema': '1' }]);
    expect(b).toEqual([{ 'edge.node': 'g/n' }, { 'edge.seq': '42' }, { 'edge.historical': 'true' }, { 'edge.schema': '1' }]);
    expect(b[0]).toBe(a[0]);
    expect(b[3]).toBe(a[3]);
    expect(b[1]).not.toBe(a[1]);
    expect(b[2]).not.toBe(a[2]);
    // A value the cache has no room for any more is still sent, in an object of its own.
    for (let i = 0; i < 1000; i++) expect(headerList({ 'spb.topic': `t${i}` })).toEqual([{ 'spb.topic': `t${i}` }]);
  });
});
