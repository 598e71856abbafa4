// The local status API on http.listen.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { listenOn } from './listen.js';

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
    Promise.resolve()
      .then(async () => {
        const value = route();
        if (value instanceof Registry) {
          const text = await value.metrics();
          res.writeHead(200, { 'content-type': value.contentType, 'cache-control': 'no-store' }).end(text);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(value, null, 2));
      })
      .catch((err: Error) => {
        log.error({ err: err.message, path }, 'Status route failed.');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
      });
  });
  const port = await listenOn(server, listen, 'http.listen');
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
