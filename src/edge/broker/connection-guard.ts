// The site broker's defence against clients that connect and never log in, or send more than MQTT needs: every TCP
// connection is "connecting" from its accept until its CONNECT is accepted, bounded in time (broker.connect_timeout),
// in bytes (BEFORE_LOGIN_BYTES) and in number (MAX_CONNECTING, apart from broker.max_clients); once logged in, each
// packet is bounded by broker.max_packet_bytes. A connection beyond a bound is closed, counted and logged (once a
// minute per kind and address), and its bytes are never buffered.
import type { Socket } from 'node:net';
import { countedLog, type CountedLog, type LimitedLog } from './limited-log.js';
import { FrameScanner, type FrameProblem, type FrameVerdict } from './frames.js';

/** Bytes before the login: a CONNECT with a will and long credentials fits, a flood does not. */
export const BEFORE_LOGIN_BYTES = 64 * 1024;
/** Connections logging in at once; beyond, the oldest that has not sent its CONNECT yet is closed. */
export const MAX_CONNECTING = 256;

export interface GuardLimits {
  connectTimeoutMs: number;
  maxPacketBytes: number;
}

export type ClosedReason = 'connect_timeout' | FrameProblem;

export interface ConnectionGuardStats {
  /** Connections not logged in yet, now. */
  connecting: number;
  /** Connections closed because MAX_CONNECTING were logging in at once. */
  dropped: number;
  closed: Record<ClosedReason, number>;
}

interface Entry {
  socket: Socket;
  /** What aedes reads: the socket, or the TLS socket over it. */
  stream?: Socket;
  timer: NodeJS.Timeout;
  scanner: FrameScanner;
  loggedIn: boolean;
  closed: boolean;
  client?: { id: string; user: string | null };
}

const addressOf = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;

export class ConnectionGuard {
  /** In the order they came: the first is the oldest. */
  private readonly connecting = new Map<Socket, Entry>();
  private readonly byStream = new WeakMap<Socket, Entry>();
  /** TLS connections during their handshake, by remote address and port, until the TLS socket over them exists. */
  private readonly handshaking = new Map<string, Entry>();
  private readonly counts = { dropped: 0, closed: { connect_timeout: 0, connect_too_large: 0, packet_too_large: 0, malformed_packet: 0 } };

  /** Connections closed, by why: counted in `stats` and logged by one call (see countedLog). */
  private readonly closed: CountedLog<keyof ConnectionGuardStats['closed']>;

  constructor(private readonly limits: () => GuardLimits, private readonly warn: LimitedLog) {
    this.closed = countedLog(this.counts.closed, warn);
  }

  stats(): ConnectionGuardStats {
    return { connecting: this.connecting.size, dropped: this.counts.dropped, closed: { ...this.counts.closed } };
  }

  /** A TCP connection a listener accepted; `tls`: its TLS handshake comes first (see `secured`). */
  opened(socket: Socket, o: { tls: boolean }): void {
    if (this.connecting.size >= MAX_CONNECTING) this.dropOldest();
    const timer = setTimeout(() => this.timedOut(entry), this.limits().connectTimeoutMs);
    const entry: Entry = { socket, timer, scanner: new FrameScanner(), loggedIn: false, closed: false };
    this.connecting.set(socket, entry);
    const address = addressOf(socket);
    if (o.tls) this.handshaking.set(address, entry);
    // Until aedes takes the stream (at its first byte) nothing else listens for its errors: a client that resets
    // the connection before sending anything would otherwise be an uncaught ECONNRESET, the end of the process.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      this.connecting.delete(socket);
      if (this.handshaking.get(address) === entry) this.handshaking.delete(address);
    });
  }

  /** A TLS handshake finished: the TLS socket is what aedes reads. False when its connection is gone already. */
  secured(tlsSocket: Socket): boolean {
    const address = addressOf(tlsSocket);
    const entry = this.handshaking.get(address);
    this.handshaking.delete(address);
    if (!entry || entry.socket.destroyed) {
      tlsSocket.destroy();
      return false;
    }
    entry.stream = tlsSocket;
    this.byStream.set(tlsSocket, entry);
    return true;
  }

  /**
   * Hands `stream` to `handle` (aedes) when its first bytes arrive, and from then on watches what aedes reads. aedes
   * makes a client (parser, queues, timers) per connection: a socket that sends nothing costs only a socket.
   */
  serve(stream: Socket, handle: (stream: Socket) => void): void {
    stream.on('error', () => undefined); // the TLS stream, likewise, before aedes listens
    stream.once('readable', () => {
      if (stream.destroyed) return;
      if (stream.readableLength === 0) {
        stream.destroy(); // its end, before any byte
        return;
      }
      // On the next tick: Node notes that this listener is gone only then, and aedes's own 'readable' listener, added
      // before that, would not be told of the bytes waiting.
      process.nextTick(() => {
        if (stream.destroyed) return;
        handle(stream);
        this.watch(stream);
      });
    });
  }

  /** Watches what aedes reads from `stream` (after aedes.handle, so that aedes's own reading mode stands). */
  private watch(stream: Socket): void {
    const entry = this.byStream.get(stream) ?? this.connecting.get(stream);
    if (!entry || entry.closed) {
      stream.destroy();
      return;
    }
    entry.stream = stream;
    this.byStream.set(stream, entry);
    // aedes reads with read() on 'readable'; each chunk read is emitted as 'data' just before aedes parses it.
    stream.on('data', (chunk: Buffer) => {
      const limits = this.limits();
      const verdict = entry.scanner.feed(chunk, entry.loggedIn, { beforeLogin: BEFORE_LOGIN_BYTES, packet: limits.maxPacketBytes });
      if (verdict) this.refuse(entry, verdict, limits.maxPacketBytes);
    });
  }

  /** The CONNECT of the client reading `stream` was accepted: from now on broker.max_packet_bytes bounds it. */
  loggedIn(stream: Socket, client: { id: string; user: string | null }): void {
    const entry = this.byStream.get(stream);
    if (!entry) return;
    entry.loggedIn = true;
    entry.client = client;
    clearTimeout(entry.timer);
    this.connecting.delete(entry.socket);
  }

  private dropOldest(): void {
    let victim: Entry | undefined;
    for (const entry of this.connecting.values()) {
      if (entry.scanner.packets === 0) {
        victim = entry;
        break;
      }
      victim ??= entry;
    }
    if (!victim) return;
    this.counts.dropped += 1;
    this.connecting.delete(victim.socket);
    clearTimeout(victim.timer);
    this.warn('warn', 'too_many_connecting', { remote: victim.socket.remoteAddress, connecting: MAX_CONNECTING, dropped: this.counts.dropped },
      `MQTT connection from ${victim.socket.remoteAddress} closed: ${MAX_CONNECTING} connections were logging in at once; the oldest one still logging in was closed to make room.`);
    this.destroy(victim);
  }

  private timedOut(entry: Entry): void {
    if (entry.loggedIn || !this.connecting.has(entry.socket)) return;
    const remote = entry.socket.remoteAddress;
    const seconds = this.limits().connectTimeoutMs / 1000;
    this.closed('connect_timeout', `connect_timeout:${remote}`, { remote, reason: 'connect_timeout' },
      `MQTT connection from ${remote} closed: it did not log in within ${seconds} s (broker.connect_timeout).`);
    this.destroy(entry);
  }

  private refuse(entry: Entry, verdict: FrameVerdict, maxPacketBytes: number): void {
    if (entry.closed) return;
    const remote = entry.socket.remoteAddress;
    const who = entry.client ? `MQTT client "${entry.client.id}" (${entry.client.user === null ? 'anonymous' : `user "${entry.client.user}"`}) from ${remote} disconnected` : `MQTT connection from ${remote} closed`;
    const why = verdict.problem === 'packet_too_large' ? `it sent a packet of ${verdict.bytes} bytes (type ${verdict.type}), beyond broker.max_packet_bytes (${maxPacketBytes})`
      : verdict.problem === 'connect_too_large' ? `${verdict.announced ? `it announced a packet of ${verdict.bytes} bytes (type ${verdict.type})` : `it sent ${verdict.bytes} bytes`} before logging in, beyond the ${BEFORE_LOGIN_BYTES} a CONNECT may take`
      : `it sent what is not MQTT 3.1.1: ${verdict.detail}`;
    this.closed(verdict.problem, `${verdict.problem}:${remote}`, { remote, clientId: entry.client?.id, user: entry.client?.user, reason: verdict.problem, bytes: verdict.bytes },
      `${who}: ${why}.`);
    this.destroy(entry);
  }

  private destroy(entry: Entry): void {
    entry.closed = true;
    entry.stream?.destroy();
    entry.socket.destroy();
  }
}
