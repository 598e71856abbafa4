import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { edgeNodeRights } from './acl.js';
import { BrokerAccess, INTERNAL_NODE_USER, nodeLogin, type BrokerAccessConfig } from './auth.js';
import { hashPassword, isPasswordHash, verifyPassword } from '../config/passwords.js';
import { readSecret } from '../config/secrets.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}
const pw = (s: string) => Buffer.from(s);

describe('password hashes', () => {
  it('verifies the right password only, and recognises its own format', async () => {
    const hash = await hashPassword('Pump-Station-4');
    expect(isPasswordHash(hash)).toBe(true);
    expect(hash).not.toContain('Pump-Station-4');
    expect(await verifyPassword('Pump-Station-4', hash)).toBe(true);
    expect(await verifyPassword('pump-station-4', hash)).toBe(false);
    expect(await hashPassword('Pump-Station-4')).not.toBe(hash); // salted
    expect(isPasswordHash('secret')).toBe(false);
    expect(await verifyPassword('x', 'scrypt$99$8$1$AAAA$BBBB')).toBe(false);
  });
});

describe('secrets', () => {
  it('reads a file (one line end dropped) or an environment variable, and names the key when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    writeFileSync(join(dir, 'p'), 's3cret\n');
    expect(readSecret({ password_file: join(dir, 'p') }, 'k')).toBe('s3cret');
    expect(() => readSecret({ password_file: join(dir, 'missing') }, 'uplink.kafka.sasl')).toThrow(`uplink.kafka.sasl.password_file: cannot read ${join(dir, 'missing')}: no such file`);
    process.env.TEST_SECRET_X = 'from-env';
    expect(readSecret({ password_env: 'TEST_SECRET_X' }, 'k')).toBe('from-env');
    expect(() => readSecret({ password_env: 'TEST_SECRET_UNSET' }, 'broker.users[0]')).toThrow('broker.users[0].password_env: the environment variable TEST_SECRET_UNSET is not set');
  });

  it('finds a relative password_file in systemd\'s credentials directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'creds-'));
    writeFileSync(join(dir, 'kafka'), 'from-credentials');
    const before = process.env.CREDENTIALS_DIRECTORY;
    process.env.CREDENTIALS_DIRECTORY = dir;
    try {
      expect(readSecret({ password_file: 'kafka' }, 'k')).toBe('from-credentials');
    } finally {
      if (before === undefined) delete process.env.CREDENTIALS_DIRECTORY;
      else process.env.CREDENTIALS_DIRECTORY = before;
    }
  });
});

describe('BrokerAccess', () => {
  const users = async (): Promise<BrokerAccessConfig['users']> => [
    { name: 'scada', password_hash: await hashPassword('a'), publish: [], subscribe: ['#'], command: true },
    { name: 'gw', password_env: 'TEST_GW_PASSWORD', publish: ['spBv1.0/g/+/n/#'], subscribe: ['spBv1.0/g/+/n/#'], command: false },
  ];

  it('an open broker (no users) lets anonymous clients do everything; with users, anonymous clients are refused', async () => {
    const open = new BrokerAccess({}, undefined, capture().log);
    const anon = await open.login(undefined, undefined, '127.0.0.1');
    expect(anon).toMatchObject({ ok: true, identity: { user: null } });
    const { log, lines } = capture();
    const closed = new BrokerAccess({ users: await users() }, undefined, log);
    expect(await closed.login(undefined, undefined, '10.0.0.9')).toEqual({ ok: false, returnCode: 5, reason: 'anonymous' });
    expect(lines.some((l) => l.remote === '10.0.0.9' && String(l.msg).includes('anonymous clients are not allowed'))).toBe(true);
    // allow_anonymous with users: admitted with the `anonymous` rights, none by default.
    const mixed = new BrokerAccess({ users: await users(), allow_anonymous: true }, undefined, capture().log);
    const a = await mixed.login(undefined, undefined, 'x');
    expect(a.ok && a.identity.rights).toEqual({ publish: [], subscribe: [], command: false });
  });

  it('checks hashes, files and environment variables; an unknown user is refused like a wrong password', async () => {
    process.env.TEST_GW_PASSWORD = 'gw-pass';
    const { log, lines } = capture();
    const access = new BrokerAccess({ users: await users(), node_user: 'gw' }, undefined, log);
    expect(await access.login('scada', pw('a'), 'x')).toMatchObject({ ok: true, identity: { user: 'scada', node: false } });
    expect(await access.login('scada', pw('b'), 'x')).toEqual({ ok: false, returnCode: 4, reason: 'bad_login' });
    expect(await access.login('gw', pw('gw-pass'), 'x')).toMatchObject({ ok: true, identity: { user: 'gw', node: true } });
    expect(await access.login('ghost', pw('a'), 'x')).toEqual({ ok: false, returnCode: 4, reason: 'bad_login' });
    expect(access.stats.refused.bad_login).toBe(2);
    expect(JSON.stringify(lines)).not.toContain('gw-pass');
    // Refusals of one kind from one place are logged once a minute, not once per attempt.
    await access.login('scada', pw('c'), 'x');
    expect(lines.filter((l) => String(l.msg).includes('"scada"'))).toHaveLength(1);
  });

  it('admits the internal node credential with the node\'s rights, and nothing else with that name', async () => {
    const login = nodeLogin({ embedded: true })!;
    expect(login.username).toBe(INTERNAL_NODE_USER);
    const access = new BrokerAccess({ users: await users() }, { login, rights: edgeNodeRights('g', 'n') }, capture().log);
    expect(await access.login(INTERNAL_NODE_USER, pw(login.password), 'x')).toMatchObject({ ok: true, identity: { node: true } });
    expect(await access.login(INTERNAL_NODE_USER, pw('guess'), 'x')).toMatchObject({ ok: false, returnCode: 4 });
    expect(nodeLogin({ embedded: false })).toBeUndefined();
  });

  it('limits clients in all and per IP address; the edge node is never counted; a place comes back on release', () => {
    const { log, lines } = capture();
    const access = new BrokerAccess({ max_clients: 3, max_clients_per_ip: 2 }, undefined, log);
    const user = { user: 'u', rights: { publish: [], subscribe: [], command: false }, node: false };
    const [a, b, c, d, node] = [{}, {}, {}, {}, {}];
    expect(access.admit(a, user, '10.0.0.1').ok).toBe(true);
    expect(access.admit(b, user, '10.0.0.1').ok).toBe(true);
    expect(access.admit(c, user, '10.0.0.1')).toEqual({ ok: false, returnCode: 3, reason: 'max_clients_per_ip' });
    expect(access.admit(c, user, '10.0.0.2').ok).toBe(true);
    expect(access.admit(d, user, '10.0.0.3')).toEqual({ ok: false, returnCode: 3, reason: 'max_clients' });
    expect(access.admit(node, { ...user, node: true }, '127.0.0.1').ok).toBe(true);
    access.release(a);
    access.release(a);
    expect(access.admit(d, user, '10.0.0.1').ok).toBe(true);
    expect(access.stats.refused).toMatchObject({ max_clients: 1, max_clients_per_ip: 1 });
    expect(lines.map((l) => l.msg)).toEqual([
      'MQTT connection refused: 2 clients are connected from 10.0.0.1 (broker.max_clients_per_ip).',
      'MQTT connection refused: 3 clients are connected (broker.max_clients).',
    ]);
  });

  it('keeps the edge node\'s client id for the node\'s own login: the internal credential, else node_user', async () => {
    process.env.TEST_GW_PASSWORD = 'gw-pass';
    const id = 'edge-gateway:g:n';
    const login = nodeLogin({ embedded: true })!;
    const { log, lines } = capture();
    // Embedded: only the internal credential, not even node_user (the node never logs in as it there).
    const embedded = new BrokerAccess({ users: await users(), node_user: 'gw' }, { login, rights: edgeNodeRights('g', 'n') }, log, id);
    const internal = await embedded.login(INTERNAL_NODE_USER, pw(login.password), '127.0.0.1');
    const gw = await embedded.login('gw', pw('gw-pass'), '10.0.0.7');
    const scada = await embedded.login('scada', pw('a'), '10.0.0.7');
    if (!internal.ok || !gw.ok || !scada.ok) throw new Error('logins failed');
    expect(embedded.mayUseClientId(id, internal.identity, '127.0.0.1')).toEqual({ ok: true });
    expect(embedded.mayUseClientId(id, gw.identity, '10.0.0.7')).toEqual({ ok: false, returnCode: 5, reason: 'reserved_client_id' });
    expect(embedded.mayUseClientId(id, scada.identity, '10.0.0.7')).toEqual({ ok: false, returnCode: 5, reason: 'reserved_client_id' });
    expect(embedded.mayUseClientId(id, scada.identity, '10.0.0.7').ok).toBe(false);
    expect(embedded.mayUseClientId('hmi-1', scada.identity, '10.0.0.7')).toEqual({ ok: true });
    expect(embedded.mayUseClientId('edge-gateway:g:N', scada.identity, '10.0.0.7')).toEqual({ ok: true }); // MQTT ids are case-sensitive
    expect(embedded.stats.refused.reserved_client_id).toBe(3);
    // Logged once a minute per user and address.
    expect(lines.filter((l) => l.reason === 'reserved_client_id').map((l) => l.msg)).toEqual([
      'MQTT connection refused: user "gw" from 10.0.0.7 used the client id "edge-gateway:g:n", which is the gateway\'s edge node\'s; the node\'s session stays.',
      'MQTT connection refused: user "scada" from 10.0.0.7 used the client id "edge-gateway:g:n", which is the gateway\'s edge node\'s; the node\'s session stays.',
    ]);

    // In its own process: node_user only. Open (no users, no node_user): nothing to tell the node by.
    const own = new BrokerAccess({ users: await users(), node_user: 'gw' }, undefined, capture().log, id);
    expect(own.mayUseClientId(id, gw.identity, 'x')).toEqual({ ok: true });
    expect(own.mayUseClientId(id, scada.identity, 'x').ok).toBe(false);
    const open = new BrokerAccess({}, undefined, capture().log, id);
    const anon = await open.login(undefined, undefined, 'x');
    expect(anon.ok && open.mayUseClientId(id, anon.identity, 'x')).toEqual({ ok: true });
  });
});
