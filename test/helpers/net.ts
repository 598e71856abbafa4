import { createServer } from 'node:net';

/** Ports this process handed out: each is bound later, by a broker, a PLC or a gateway started after the pick. */
const handedOut = new Set<number>();

/**
 * A TCP port free on 127.0.0.1 right now, and never one handed out before in this process: the kernel may offer a
 * port it just gave (and that is not bound yet) again, and two servers of one test would then fight for it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const p = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(p));
      });
    });
    if (port === 0) throw new Error('could not allocate a port on 127.0.0.1');
    if (!handedOut.has(port) || attempt >= 50) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Polls `check` until it returns a value other than undefined/false; bounded by `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
