// CRC-32 (IEEE) over a record's fields, so that a record damaged in place inside the SQLite file is never sent
// altered. Fed with UTF-16 code units straight from the strings: no encoding step on the capture path.
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function feedString(crc: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    crc = TABLE[(crc ^ c) & 0xff]! ^ (crc >>> 8);
    crc = TABLE[(crc ^ (c >>> 8)) & 0xff]! ^ (crc >>> 8);
  }
  return crc;
}

/** A safe integer as four 16-bit units, so that seq 12 and captured_at 3 never hash like seq 1 and 23. */
function feedNumber(crc: number, n: number): number {
  let v = n;
  for (let i = 0; i < 4; i++) {
    const u = v % 65536;
    crc = TABLE[(crc ^ u) & 0xff]! ^ (crc >>> 8);
    crc = TABLE[(crc ^ (u >>> 8)) & 0xff]! ^ (crc >>> 8);
    v = Math.floor(v / 65536);
  }
  return crc;
}

/** The checksum stored beside a record: over seq, captured_at, key, type and value. Unsigned 32 bits. */
export function recordChecksum(seq: number, capturedAt: number, key: string, type: string, value: string): number {
  let crc = -1;
  crc = feedNumber(crc, seq);
  crc = feedNumber(crc, capturedAt);
  crc = feedString(crc, key);
  crc = feedNumber(crc, key.length); // field boundaries: "ab"+"c" is not "a"+"bc"
  crc = feedString(crc, type);
  crc = feedString(crc, value);
  return (crc ^ -1) >>> 0;
}

/** The same CRC over a plain string (the side file's own check). */
export function textChecksum(s: string): number {
  return (feedString(-1, s) ^ -1) >>> 0;
}
