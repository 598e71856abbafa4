// A small OIDC identity provider for the tests: a client-credentials token endpoint that signs JWTs (RS256) and
// the JWKS its signatures are checked with, on 127.0.0.1. It counts what it was asked.
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface TestIdentityProvider {
  tokenUrl: string;
  jwksUrl: string;
  /** Token requests answered with a token, and refused. */
  issued: number;
  refused: number;
  /** Tokens handed out (to check that none reaches a log). */
  tokens: string[];
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startIdentityProvider(clients: Record<string, string>, opts: { audience?: string; lifetimeS?: number } = {}): Promise<TestIdentityProvider> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const jwt = (claims: Record<string, unknown>) => {
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }));
    const body = b64url(JSON.stringify(claims));
    return `${head}.${body}.${b64url(sign('RSA-SHA256', Buffer.from(`${head}.${body}`), privateKey))}`;
  };
  const idp: TestIdentityProvider = { tokenUrl: '', jwksUrl: '', issued: 0, refused: 0, tokens: [], close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/jwks') return json(200, { keys: [jwk] });
      if (req.method !== 'POST' || req.url !== '/token') return json(404, { error: 'not_found' });
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
      if (form.get('grant_type') !== 'client_credentials' || id === undefined || clients[id] === undefined || clients[id] !== secret) {
        idp.refused += 1;
        return json(401, { error: 'invalid_client' });
      }
      const now = Math.floor(Date.now() / 1000);
      const lifetime = opts.lifetimeS ?? 3600;
      const token = jwt({ sub: id, iat: now, exp: now + lifetime, scope: form.get('scope') ?? '', ...(opts.audience ? { aud: opts.audience } : {}) });
      idp.issued += 1;
      idp.tokens.push(token);
      json(200, { access_token: token, token_type: 'Bearer', expires_in: lifetime });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  idp.tokenUrl = `http://127.0.0.1:${port}/token`;
  idp.jwksUrl = `http://127.0.0.1:${port}/jwks`;
  idp.close = () => new Promise((resolve) => server.close(() => resolve()));
  return idp;
}
