// Little-endian byte writing and bounds-checked reading for the compact record format. Integers are varints of
// JavaScript numbers up to 2^53, written with arithmetic rather than 32-bit bit operations.

export class ByteWriter {
  private buf = Buffer.allocUnsafe(4096);
  private n = 0;

  reset(): void {
    this.n = 0;
  }

  get length(): number {
    return this.n;
  }

  private room(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + bytes));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }

  /** An unsigned integer below 2^53. */
  varint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }

  /** A signed integer of magnitude below 2^52, zigzag-mapped so that small negatives stay short. */
  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  f32(v: number): void {
    this.room(4);
    this.buf.writeFloatLE(v, this.n);
    this.n += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.n);
    this.n += 8;
  }

  /** UTF-8 with its byte length in front. */
  text(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.room(len);
    this.n += this.buf.write(s, this.n, 'utf8');
  }

  /** Forgets what was written after `length` (a record that turned out not to fit the format). */
  truncate(length: number): void {
    this.n = Math.min(this.n, length);
  }

  /** A view of bytes start..end, valid until the next write or reset. */
  view(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** A copy of what was written since reset. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.n));
  }
}

/** Thrown for bytes that do not decode; the caller treats the record as damaged. */
export class DecodeError extends Error {}

export class ByteReader {
  private i = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.i >= this.buf.length;
  }

  get remaining(): number {
    return this.buf.length - this.i;
  }

  byte(): number {
    if (this.i >= this.buf.length) throw new DecodeError('record ends early');
    return this.buf[this.i++]!;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (let k = 0; k < 8; k++) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  zigzag(): number {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  private need(bytes: number): void {
    if (this.i + bytes > this.buf.length) throw new DecodeError('record ends early');
  }

  f32(): number {
    this.need(4);
    const v = this.buf.readFloatLE(this.i);
    this.i += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.i);
    this.i += 8;
    return v;
  }

  text(): string {
    const len = this.varint();
    this.need(len);
    const s = this.buf.toString('utf8', this.i, this.i + len);
    this.i += len;
    return s;
  }
}
