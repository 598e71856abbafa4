// MQTT 3.1.1 packets as raw bytes, for tests that speak to the broker below any client library: oversized or
// truncated packets, and fields no well-behaved client would send.

/** [MQTT-2.2.3] Remaining Length: seven bits a byte, least significant first; `bytes` forces a longer encoding. */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed field [MQTT-1.5.3]; a Buffer goes as it is (bad UTF-8 included). */
export function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

export function packet(typeAndFlags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([typeAndFlags]), remainingLength(body.length), body]);
}

export interface ConnectFields {
  clientId: string | Buffer;
  username?: string | Buffer;
  password?: Buffer;
  will?: { topic: string | Buffer; payload: Buffer; qos?: number; retain?: boolean };
  clean?: boolean;
  keepalive?: number;
  protocolLevel?: number;
  protocolName?: string;
  /** Replaces the connect flags computed from the fields (a reserved bit set, say). */
  flags?: number;
}

export function connect(f: ConnectFields): Buffer {
  let flags = f.clean === false ? 0 : 0x02;
  if (f.will) flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain ? 0x20 : 0);
  if (f.password !== undefined) flags |= 0x40;
  if (f.username !== undefined) flags |= 0x80;
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(f.keepalive ?? 30);
  const body = Buffer.concat([
    field(f.protocolName ?? 'MQTT'),
    Buffer.from([f.protocolLevel ?? 4, f.flags ?? flags]),
    keepalive,
    field(f.clientId),
    ...(f.will ? [field(f.will.topic), field(f.will.payload)] : []),
    ...(f.username !== undefined ? [field(f.username)] : []),
    ...(f.password !== undefined ? [field(f.password)] : []),
  ]);
  return packet(0x10, body);
}

export function publish(topic: string | Buffer, payload: Buffer, o: { qos?: number; id?: number; retain?: boolean } = {}): Buffer {
  const qos = o.qos ?? 0;
  const id = Buffer.alloc(qos > 0 ? 2 : 0);
  if (qos > 0) id.writeUInt16BE(o.id ?? 1);
  return packet(0x30 | (qos << 1) | (o.retain ? 1 : 0), Buffer.concat([field(topic), id, payload]));
}

export function subscribe(id: number, filters: Array<{ filter: string | Buffer; qos: number }>): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(id);
  return packet(0x82, Buffer.concat([head, ...filters.map((f) => Buffer.concat([field(f.filter), Buffer.from([f.qos])]))]));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
