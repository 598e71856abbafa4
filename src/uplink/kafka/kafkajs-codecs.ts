// Compression for client kafkajs, which has only gzip by itself: snappy through its codec package (kafkajs-snappy,
// pure JavaScript); zstd sent through Node.js's own zlib where this Node.js has it (22.15 and later), and read on
// any Node.js (fzstd, pure JavaScript, where zlib has none), so that `verify` reads what client librdkafka sends.
// lz4 needs client librdkafka. (kafkajs is CommonJS: its codec table is reached through the default export.)
import { createRequire } from 'node:module';
import { decompress as fzstdDecompress } from 'fzstd';
import kafkajs, { CompressionTypes } from 'kafkajs';
import { nodeZstd, type Compression, type ZstdZlib } from './compressions.js';

type Codec = () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };

let registered = false;

/** Registers the codecs with kafkajs, once per process: for the uplink, `verify` and the tests' consumers. */
export function registerKafkajsCodecs(): void {
  if (registered) return;
  registered = true;
  kafkajs.CompressionCodecs[CompressionTypes.Snappy] = createRequire(import.meta.url)('kafkajs-snappy') as Codec;
  const zstd = nodeZstd();
  const promised = (fn: ZstdZlib['zstdCompress'], buffer: Buffer) => new Promise<Buffer>((resolve, reject) => fn(buffer, (err, out) => (err ? reject(err) : resolve(out))));
  const codec: Codec = () => ({
    async compress(encoder) {
      if (!zstd) throw new Error(`uplink.kafka.compression: zstd with client kafkajs needs Node.js 22.15 or later (this is ${process.version})`);
      return promised(zstd.zstdCompress.bind(zstd), encoder.buffer);
    },
    async decompress(buffer) {
      return zstd ? promised(zstd.zstdDecompress.bind(zstd), buffer) : Buffer.from(fzstdDecompress(buffer));
    },
  });
  kafkajs.CompressionCodecs[CompressionTypes.ZSTD] = codec;
}

/** kafkajs's type for `compression`, its codec registered. */
export function kafkajsCompression(compression: Compression): CompressionTypes {
  registerKafkajsCodecs();
  switch (compression) {
    case 'none': return CompressionTypes.None;
    case 'gzip': return CompressionTypes.GZIP;
    case 'snappy': return CompressionTypes.Snappy;
    case 'zstd':
      if (!nodeZstd()) throw new Error(`uplink.kafka.compression: zstd with client kafkajs needs Node.js 22.15 or later (this is ${process.version}); use client librdkafka, or gzip or snappy`);
      return CompressionTypes.ZSTD;
    case 'lz4':
      throw new Error('uplink.kafka.compression: lz4 needs client librdkafka; client kafkajs sends none, gzip, snappy or zstd');
  }
}
