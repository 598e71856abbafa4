// What a client's bytes announce, read as they arrive: the fixed header of each MQTT packet [MQTT-2.2], its type and
// its Remaining Length. aedes's parser (mqtt-packet) collects a whole packet before it hands it on, so a header
// announcing 256 MB would have it buffer 256 MB; judged here on its header, such a packet is refused before its
// body is read. Pure: connection-guard.ts feeds it the bytes of one connection.

export type FrameProblem = 'connect_too_large' | 'packet_too_large' | 'malformed_packet';

export interface FrameLimits {
  /** Bytes a connection may send, all packets together, before its CONNECT is accepted. */
  beforeLogin: number;
  /** Bytes of one packet, fixed header included, once logged in. */
  packet: number;
}

export interface FrameVerdict {
  problem: FrameProblem;
  /** What was too large: the packet as its header announced it (`announced`), or the bytes received before the login. */
  bytes: number;
  announced?: boolean;
  /** The MQTT control packet type of the packet at fault (1 CONNECT, 3 PUBLISH, …). */
  type: number;
  detail?: string;
}

const CONNECT = 1;

export class FrameScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private type = 0;
  private length = 0;
  private lengthBytes = 0;
  private body = 0;
  private beforeLogin = 0;
  /** Fixed headers read whole, i.e. packets announced. */
  packets = 0;

  /** Reads `chunk`; the first problem it shows, after which the connection must be closed. */
  feed(chunk: Uint8Array, loggedIn: boolean, limits: FrameLimits): FrameVerdict | undefined {
    if (!loggedIn) {
      this.beforeLogin += chunk.length;
      if (this.beforeLogin > limits.beforeLogin) return { problem: 'connect_too_large', bytes: this.beforeLogin, type: this.type };
    }
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.body, chunk.length - i);
        this.body -= n;
        i += n;
        if (this.body === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        this.type = byte >> 4;
        // [MQTT-2.2.1] types 0 and 15 are reserved; [MQTT-3.1.0-1] the first packet is a CONNECT.
        if (this.type === 0 || this.type === 15) return { problem: 'malformed_packet', bytes: 0, type: this.type, detail: `packet type ${this.type} is reserved` };
        if (this.packets === 0 && this.type !== CONNECT) return { problem: 'malformed_packet', bytes: 0, type: this.type, detail: `the first packet is of type ${this.type}, not a CONNECT` };
        this.length = 0;
        this.lengthBytes = 0;
        this.state = 'length';
        continue;
      }
      // [MQTT-2.2.3] Remaining Length: at most four bytes of seven bits, least significant first.
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return { problem: 'malformed_packet', bytes: 0, type: this.type, detail: 'its remaining length runs past four bytes' };
        continue;
      }
      this.packets += 1;
      const size = 1 + this.lengthBytes + this.length;
      const limit = loggedIn ? limits.packet : limits.beforeLogin;
      if (size > limit) return { problem: loggedIn ? 'packet_too_large' : 'connect_too_large', bytes: size, announced: true, type: this.type };
      this.body = this.length;
      this.state = this.body > 0 ? 'body' : 'type';
    }
    return undefined;
  }
}
