// Which compressions each Kafka client sends: librdkafka all of them; kafkajs gzip by itself, snappy through its
// codec package, zstd through Node.js's own zlib where this Node.js has it (22.15 and later). No Kafka client is
// imported here: the config's validation asks this too.
import zlib from 'node:zlib';

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface ZstdZlib {
  zstdCompress(buffer: Buffer, cb: (err: Error | null, out: Buffer) => void): void;
  zstdDecompress(buffer: Buffer, cb: (err: Error | null, out: Buffer) => void): void;
}

/** Node.js's zstd, where it has one. */
export function nodeZstd(): ZstdZlib | undefined {
  const z = zlib as unknown as Partial<ZstdZlib>;
  return typeof z.zstdCompress === 'function' && typeof z.zstdDecompress === 'function' ? (z as ZstdZlib) : undefined;
}

/** The compressions client kafkajs can send on this Node.js. */
export function kafkajsCompressions(): Compression[] {
  return ['none', 'gzip', 'snappy', ...(nodeZstd() ? (['zstd'] as const) : [])];
}

/** What client kafkajs sends when the config names no compression: zstd where it can, else gzip. */
export function kafkajsDefaultCompression(): Compression {
  return nodeZstd() ? 'zstd' : 'gzip';
}

/** What a client compresses with when the config names nothing. */
export function defaultCompression(client: 'kafkajs' | 'librdkafka'): Compression {
  return client === 'librdkafka' ? 'zstd' : kafkajsDefaultCompression();
}
