// A TCP proxy on 127.0.0.1 in front of one target port, for network-cut tests.
//
// pause() is a cut that neither side can see: nothing is closed or reset, bytes simply stop moving in both
// directions (the proxy stops reading, and holds what it had already read, as an unplugged link holds bytes in
// the kernels' send queues), and new connections are accepted but not connected onward. resume() delivers what
// was held, connects the waiting connections, and forwards again. A side that closes during a pause is seen only
// after resume(), behind the bytes it sent before closing, as TCP would deliver them once the link is back.
import net from 'node:net';

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  readonly paused: boolean;
  /** Client connections open right now. */
  readonly connections: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  /** Bytes forwarded so far, client→target (up) and target→client (down). */
  readonly bytes: { up: number; down: number };
  pause(): void;
  resume(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** Listen port; a free one by default. */
  port?: number;
}

/** One direction of a connection: reads `from`, writes `to`, holding chunks while paused or while `to` is not there. */
class Pipe {
  private held: Buffer[] = [];
  private ended = false;
  private waitingForDrain = false;
  to: net.Socket | undefined;

  constructor(
    private readonly from: net.Socket,
    private readonly isPaused: () => boolean,
    private readonly count: (n: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.held.push(chunk);
      this.flush();
    });
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  /** Forwards what is held when allowed, else stops reading `from`; passes backpressure from `to` back to `from`. */
  flush(): void {
    const to = this.to;
    if (this.isPaused() || !to || to.connecting || to.destroyed || this.waitingForDrain) {
      this.from.pause();
      return;
    }
    let ok = true;
    for (const chunk of this.held) {
      this.count(chunk.length);
      ok = to.write(chunk) && ok;
    }
    this.held = [];
    if (this.ended) {
      to.end();
      return;
    }
    if (ok) {
      this.from.resume();
      return;
    }
    this.from.pause();
    this.waitingForDrain = true;
    to.once('drain', () => {
      this.waitingForDrain = false;
      this.flush();
    });
  }
}

interface Connection {
  client: net.Socket;
  upstream: net.Socket | undefined;
  pipes: Pipe[];
  connectUpstream(): void;
  destroy(): void;
}

export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  let paused = false;
  let accepted = 0;
  const bytes = { up: 0, down: 0 };
  const conns = new Set<Connection>();
  const isPaused = () => paused;

  // pauseOnConnect: nothing is read from a client until it is forwarded somewhere.
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    accepted += 1;
    const up = new Pipe(client, isPaused, (n) => (bytes.up += n));
    const conn: Connection = {
      client,
      upstream: undefined,
      pipes: [up],
      connectUpstream() {
        if (conn.upstream || client.destroyed) return;
        const upstream = net.connect({ host: targetHost, port: opts.targetPort, allowHalfOpen: true });
        conn.upstream = upstream;
        upstream.setNoDelay(true);
        const down = new Pipe(upstream, isPaused, (n) => (bytes.down += n));
        down.to = client;
        up.to = upstream;
        conn.pipes.push(down);
        upstream.on('error', conn.destroy); // refused or reset by the target: the client sees a reset too
        upstream.on('close', (hadError) => (hadError ? conn.destroy() : client.closed && conns.delete(conn)));
        upstream.once('connect', () => {
          up.flush();
          down.flush();
        });
      },
      destroy() {
        client.destroy();
        conn.upstream?.destroy();
        conns.delete(conn);
      },
    };
    conns.add(conn);
    client.setNoDelay(true);
    client.on('error', conn.destroy);
    // A clean close travels as a FIN behind the data (see Pipe); the connection is forgotten once both sides closed.
    client.on('close', (hadError) => (hadError || !conn.upstream ? conn.destroy() : conn.upstream.closed && conns.delete(conn)));
    if (!paused) conn.connectUpstream();
  });
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    get paused() {
      return paused;
    },
    get connections() {
      return conns.size;
    },
    get accepted() {
      return accepted;
    },
    bytes,
    pause() {
      paused = true;
      for (const c of conns) {
        c.client.pause();
        c.upstream?.pause();
      }
    },
    resume() {
      if (!paused) return;
      paused = false;
      for (const c of [...conns]) {
        if (!c.upstream) c.connectUpstream();
        else for (const p of c.pipes) p.flush();
      }
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const c of [...conns]) c.destroy();
        server.close(() => resolve());
      });
    },
  };
}
