// A 32-bit checksum over a record's fields, so that a record damaged in place inside the SQLite file is never
// sent altered. MurmurHash3 (x86, 32-bit) over the fields' UTF-8 bytes, as SQLite stores them: encoded by
// Buffer.write into one reused buffer and read a 32-bit word at a time, it costs a few percent of a capture,
// where a table CRC over characters cost a third (journal capture bench). Every block step is a bijection, so
// a change confined to one word is always detected; other changes escape with odds of 2^-32.
let buf = Buffer.alloc(64 * 1024);
let words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);

function room(bytes: number): void {
  if (bytes <= buf.length) return;
  buf = Buffer.alloc(bytes * 2);
  words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
}

/** MurmurHash3_x86_32 over the first `n` bytes of `buf`, zero-padded to a whole word (the length is mixed in). */
function murmur(n: number, seed: number): number {
  for (let i = n; i < ((n + 3) & ~3); i++) buf[i] = 0;
  const count = (n + 3) >> 2;
  let h = seed;
  for (let i = 0; i < count; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The checksum stored beside a record: over seq, captured_at, key, type and value. Unsigned 32 bits. */
export function recordChecksum(seq: number, capturedAt: number, key: string, type: string, value: string): number {
  room(20 + 3 * (key.length + type.length + value.length));
  words[0] = seq | 0;
  words[1] = Math.floor(seq / 2 ** 32);
  words[2] = capturedAt | 0;
  words[3] = Math.floor(capturedAt / 2 ** 32);
  // NUL between the fields: "ab"+"c" is not "a"+"bc".
  let n = 16 + buf.write(key, 16, 'utf8');
  buf[n++] = 0;
  n += buf.write(type, n, 'utf8');
  buf[n++] = 0;
  n += buf.write(value, n, 'utf8');
  return murmur(n, 0x6a6f7572);
}

/** The same checksum over a plain string (the side file's own check). */
export function textChecksum(s: string): number {
  room(4 + 3 * s.length);
  return murmur(buf.write(s, 0, 'utf8'), 0x73696465);
}

/** The checksum stored beside a compact record: over seq, captured_at, its type and its bytes. */
export function compactChecksum(seq: number, capturedAt: number, type: number, data: Uint8Array): number {
  room(20 + data.length);
  words[0] = seq | 0;
  words[1] = Math.floor(seq / 2 ** 32);
  words[2] = capturedAt | 0;
  words[3] = Math.floor(capturedAt / 2 ** 32);
  words[4] = type;
  buf.set(data, 20);
  return murmur(20 + data.length, 0x636d7074);
}
