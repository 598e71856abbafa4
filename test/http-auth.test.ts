// The status page behind http.users: the page, /api/status and /metrics ask for an HTTP Basic login; /healthz and
// /readyz stay open for health checks; `edge-gateway status` logs in; an open status page on a network address
// must be asked for in so many words.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/edge/config/passwords.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort } from './helpers/net.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const OPS_PASSWORD = 'ops-Secret-4b1d';
const VIEWER_PASSWORD = 'viewer-Secret-77ea';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('the status page with http.users', () => {
  it('refuses a network address without users or allow_anonymous, naming http.listen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-http-'));
    const file = join(dir, 'open.yaml');
    writeFileSync(file, 'site: { group: g, node: n }\nhttp:\n  listen: 0.0.0.0:8080\n');
    const r = runCli(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`${file}:3:11 http.listen: 0.0.0.0 is reachable from the network, and the status page shows every tag value: set http.users (who may read it, with passwords) or write "allow_anonymous: true"`);
    writeFileSync(file, 'site: { group: g, node: n }\nhttp:\n  listen: 0.0.0.0:8080\n  allow_anonymous: true\n');
    expect(runCli(['validate', '--config', file]).code).toBe(0);
  });

  it('asks for a login everywhere but the health checks, counts refusals, and lets `edge-gateway status` log in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-http-'));
    writeFileSync(join(dir, 'ops.pass'), `${OPS_PASSWORD}\n`);
    const viewerHash = await hashPassword(VIEWER_PASSWORD);
    const http = await freePort();
    const g = await GatewayProcess.create({
      ports: { mqtt: await freePort(), http },
      extraYaml: '',
    });
    // The generated `http:` line is replaced by a section with users.
    writeFileSync(g.configFile, readFileSync(g.configFile, 'utf8').replace(/^http:.*$/m, [
      'http:',
      `  listen: 127.0.0.1:${http}`,
      '  users:',
      `    - { name: ops, password_file: ${join(dir, 'ops.pass')} }`,
      `    - { name: viewer, password_hash: '${viewerHash}' }`,
    ].join('\n')));
    cleanups.push(() => g.kill());
    await g.start({ until: 'http' });

    const get = (path: string, headers: Record<string, string> = {}) => fetch(g.url(path), { headers });
    const anonymous = await get('/');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="edge-gateway", charset="UTF-8"');
    expect((await get('/api/status', basic('ops', 'wrong'))).status).toBe(401);
    expect((await get('/metrics', basic('nobody', OPS_PASSWORD))).status).toBe(401);
    expect((await get('/healthz')).status).toBe(200);
    expect([200, 503]).toContain((await get('/readyz')).status);

    const page = await get('/', basic('ops', OPS_PASSWORD));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const viaHash = await get('/api/status', basic('viewer', VIEWER_PASSWORD));
    expect(viaHash.status).toBe(200);
    expect((await viaHash.json()).http).toEqual({ refused: { no_login: 1, bad_login: 2 } });
    const metrics = await (await get('/metrics', basic('ops', OPS_PASSWORD))).text();
    expect(metrics).toMatch(/^edge_gateway_http_logins_refused_total\{reason="no_login"\} 1$/m);
    expect(metrics).toMatch(/^edge_gateway_http_logins_refused_total\{reason="bad_login"\} 2$/m);

    const without = await runCliAsync(['status', '--url', g.url('')]);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('asks for a login (http.users): pass --user NAME');
    const withLogin = await runCliAsync(['status', '--url', g.url(''), '--user', 'ops', '--password-file', join(dir, 'ops.pass')]);
    expect(withLogin.stderr).toBe('');
    expect(withLogin.code).toBe(0);
    expect(withLogin.stdout).toMatch(/^site +test-plant\/gw-test/m);
    const viaEnv = await runCliAsync(['status', '--url', g.url(''), '--user', 'viewer'], { env: { EDGE_GATEWAY_PASSWORD: 'not-it' } });
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.stderr).toContain('refused the login of "viewer"');

    const logs = g.logs();
    expect(logs).toContain('Status page login refused: wrong user name or password for \\"ops\\"');
    for (const secret of [OPS_PASSWORD, VIEWER_PASSWORD, viewerHash, 'not-it']) expect(logs).not.toContain(secret);
  });
});
