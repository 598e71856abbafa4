// The local status API on http.listen.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttp(
  listen: { host: string; port: number },
  routes: Record<string, () => unknown>,
  log: Logger,
): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routes[path];
    if (req.method !== 'GET' || !route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    try {
      const body = JSON.stringify(route(), null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    } catch (err) {
      log.error({ err: (err as Error).message, path }, 'Status route failed.');
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  log.info({ host: listen.host, port }, 'Status API listening.');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
