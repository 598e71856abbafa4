// Compression for client kafkajs, which compresses only gzip by itself: snappy through its codec package
// (kafkajs-snappy, pure JavaScript), zstd through Node.js's own zlib where this Node.js has it (22.15 and later).
// lz4 needs client librdkafka. (kafkajs is CommonJS: its codec table is reached through the default export.)
import { createRequire } from 'node:module';
import kafkajs, { CompressionTypes } from 'kafkajs';
import { nodeZstd, type Compression, type ZstdZlib } from './compressions.js';

let registered = false;

/** Registers the codecs with kafkajs (once per process) and gives kafkajs's type for `compression`. */
export function kafkajsCompression(compression: Compression): CompressionTypes {
  if (!registered) {
    registered = true;
    kafkajs.CompressionCodecs[CompressionTypes.Snappy] = createRequire(import.meta.url)('kafkajs-snappy') as () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };
    const zstd = nodeZstd();
    if (zstd) {
      const promised = (fn: ZstdZlib['zstdCompress'], buffer: Buffer) => new Promise<Buffer>((resolve, reject) => fn(buffer, (err, out) => (err ? reject(err) : resolve(out))));
      kafkajs.CompressionCodecs[CompressionTypes.ZSTD] = () => ({
        compress: (encoder: { buffer: Buffer }) => promised(zstd.zstdCompress.bind(zstd), encoder.buffer),
        decompress: (buffer: Buffer) => promised(zstd.zstdDecompress.bind(zstd), buffer),
      });
    }
  }
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
