// The local HTTP server on http.listen: the status page, the status API, /metrics, /healthz and /readyz.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { HttpAccess } from './auth.js';
import { listenOn } from '../listen.js';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/** A response other than 200 JSON: a page, a plain-text answer, or a status code of its own. */
export class Reply {
  constructor(readonly status: number, readonly contentType: string, readonly body: string) {}

  static text(status: number, body: string): Reply {
    return new Reply(status, 'text/plain; charset=utf-8', body.endsWith('\n') ? body : `${body}\n`);
  }

  static html(body: string): Reply {
    return new Reply(200, 'text/html; charset=utf-8', body);
  }

  static json(status: number, value: unknown): Reply {
    return new Reply(status, 'application/json', JSON.stringify(value, jsonSafe, 2));
  }
}

/** A route answers a value (sent as JSON), a Registry (sent as Prometheus text) or a Reply. */
export type Routes = Record<string, () => unknown>;

/** 64-bit tag values arrive as bigints, which JSON cannot hold: they become decimal strings. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export interface HttpOptions {
  /** With `http.users`: every route but `open` asks for a login. */
  access?: HttpAccess;
  open?: readonly string[];
}

export async function startHttp(listen: { host: string; port: number }, routes: Routes, log: Logger, options: HttpOptions = {}): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routes[path];
    const head = req.method === 'HEAD';
    if ((req.method !== 'GET' && !head) || !route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    Promise.resolve()
      .then(async () => {
        if (options.access && !options.open?.includes(path)) {
          const login = await options.access.check(req.headers.authorization, req.socket.remoteAddress ?? 'unknown');
          if (!login.ok) {
            res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Basic realm="edge-gateway", charset="UTF-8"', 'cache-control': 'no-store' })
              .end(head ? undefined : 'A login of http.users is needed.\n');
            return;
          }
        }
        const value = route();
        const reply =
          value instanceof Reply ? value
          : value instanceof Registry ? new Reply(200, value.contentType, await value.metrics())
          : Reply.json(200, value);
        res.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store' }).end(head ? undefined : reply.body);
      })
      .catch((err: Error) => {
        log.error({ err: err.message, path }, 'Status route failed.');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
      });
  });
  const port = await listenOn(server, listen, 'http.listen');
  log.info({ host: listen.host, port, page: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}/` }, 'Status page and API listening.');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
