import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { edgeNodeRights } from './acl.js';
import { BrokerAccess, clientsToDisconnect, INTERNAL_NODE_USER, loadAccessRules, nodeLogin, reviewClient, type BrokerAccessConfig, type Identity } from './auth.js';
import { brokerInPlace, brokerRestartKeys, brokerSecurityChanged } from './reload.js';
import { locateProblems, parseConfig } from '../config/load.js';
import { ConfigValueError } from '../config/value-error.js';
import { hashPassword } from '../config/passwords.js';

const quiet = pino({ level: 'silent' });
const pw = (s: string) => Buffer.from(s);
const dir = mkdtempSync(join(tmpdir(), 'broker-reload-'));
const file = (name: string, content: string) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};
const rights = (subscribe: string[], publish: string[] = []) => ({ publish, subscribe, command: false });

/** Logs in through BrokerAccess as the broker does, so the identities carry what a real login gives them. */
async function loggedIn(access: BrokerAccess, user: string | undefined, password?: string): Promise<Identity> {
  const result = await access.login(user, password === undefined ? undefined : pw(password), '10.0.0.5');
  if (!result.ok) throw new Error(`login of ${user} refused`);
  return result.identity;
}

describe('which clients a reload disconnects', () => {
  it('those whose user was removed, whose password changed, or that are anonymous when anonymous is refused now; the others get the new rights', async () => {
    const scadaHash = await hashPassword('scada-pw');
    process.env.TEST_RELOAD_VIEWER = 'viewer-pw';
    const before: BrokerAccessConfig = {
      allow_anonymous: true,
      anonymous: rights(['public/#']),
      users: [
        { name: 'scada', password_hash: scadaHash, ...rights(['spBv1.0/#'], ['spBv1.0/STATE/+']), command: true },
        { name: 'hmi', password_file: file('hmi', 'hmi-pw\n'), ...rights(['spBv1.0/#']) },
        { name: 'panel', password_file: file('panel', 'panel-pw'), ...rights(['spBv1.0/#']) },
        { name: 'viewer', password_env: 'TEST_RELOAD_VIEWER', ...rights(['spBv1.0/#']) },
      ],
    };
    const login = nodeLogin({ embedded: true })!;
    const access = new BrokerAccess(before, { login, rights: edgeNodeRights('g', 'n') }, quiet);
    const clients: Array<[string, Identity]> = [
      ['scada', await loggedIn(access, 'scada', 'scada-pw')],
      ['hmi', await loggedIn(access, 'hmi', 'hmi-pw')],
      ['panel', await loggedIn(access, 'panel', 'panel-pw')],
      ['viewer', await loggedIn(access, 'viewer', 'viewer-pw')],
      ['anonymous', await loggedIn(access, undefined)],
      ['edge node', await loggedIn(access, INTERNAL_NODE_USER, login.password)],
    ];

    // Nothing changed: everybody stays, with the rights they had.
    expect(clientsToDisconnect(clients, loadAccessRules(before))).toEqual([]);

    // hmi removed, panel's file holds a new password, scada's rights narrowed, anonymous clients no longer allowed.
    file('panel', 'panel-pw-2');
    const after: BrokerAccessConfig = {
      users: [
        { name: 'scada', password_hash: scadaHash, ...rights(['spBv1.0/plant/#']), command: true },
        { name: 'panel', password_file: join(dir, 'panel'), ...rights(['spBv1.0/#']) },
        { name: 'viewer', password_env: 'TEST_RELOAD_VIEWER', ...rights(['spBv1.0/#']) },
        { name: 'new', password_file: file('new', 'new-pw'), ...rights([]) },
      ],
    };
    const rules = loadAccessRules(after);
    expect(clientsToDisconnect(clients, rules).map(({ client, reason }) => [client, reason])).toEqual([
      ['hmi', 'user_removed'],
      ['panel', 'password_changed'],
      ['anonymous', 'anonymous_refused'],
    ]);
    expect(reviewClient(clients[0]![1], rules)).toEqual({ keep: expect.objectContaining({ user: 'scada', rights: expect.objectContaining({ subscribe: ['spBv1.0/plant/#'] }) }) });
    // The embedded broker's own edge node stays whatever the users are.
    expect(reviewClient(clients[5]![1], loadAccessRules({ users: [] }))).toEqual({ keep: clients[5]![1] });

    // A new password_hash for scada is a changed password; the same password from a changed variable too.
    const rehashed = loadAccessRules({ users: [{ ...after.users![0]!, password_hash: await hashPassword('scada-pw') }] });
    expect(reviewClient(clients[0]![1], rehashed)).toEqual({ disconnect: 'password_changed' });
    process.env.TEST_RELOAD_VIEWER = 'viewer-pw-2';
    expect(reviewClient(clients[3]![1], loadAccessRules(after))).toEqual({ disconnect: 'password_changed' });

    // Anonymous clients that stay allowed get the new anonymous rights.
    const open = loadAccessRules({ allow_anonymous: true, users: after.users, anonymous: rights(['other/#']) });
    expect(reviewClient(clients[4]![1], open)).toEqual({ keep: expect.objectContaining({ user: null, rights: rights(['other/#']) }) });
  });

  it('a login whose password was being checked while a reload came in is judged by the new rules', async () => {
    const hash = await hashPassword('pw');
    const users: BrokerAccessConfig['users'] = [{ name: 'hmi', password_hash: hash, ...rights(['#']) }];
    const access = new BrokerAccess({ users }, undefined, quiet);
    const pending = access.login('hmi', pw('pw'), 'x');
    access.reconfigure(loadAccessRules({ users: [{ name: 'other', password_hash: hash, ...rights(['#']) }] }));
    expect(await pending).toMatchObject({ ok: false, returnCode: 4 });
    expect(await access.login('other', pw('pw'), 'x')).toMatchObject({ ok: true });
  });

  it('refuses a section whose password cannot be read, naming the key and never a password', () => {
    process.env.TEST_RELOAD_OK = 'secret-in-env';
    const config: BrokerAccessConfig = {
      users: [
        { name: 'ok', password_env: 'TEST_RELOAD_OK', ...rights([]) },
        { name: 'gone', password_file: join(dir, 'missing'), ...rights([]) },
        { name: 'unset', password_env: 'TEST_RELOAD_UNSET', ...rights([]) },
      ],
    };
    let error: unknown;
    try {
      loadAccessRules(config);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigValueError);
    expect((error as ConfigValueError).problems).toEqual([
      { path: ['broker', 'users', 1, 'password_file'], message: `cannot read ${join(dir, 'missing')}: no such file` },
      { path: ['broker', 'users', 2, 'password_env'], message: 'the environment variable TEST_RELOAD_UNSET is not set' },
    ]);
    expect((error as Error).message).not.toContain('secret-in-env');
  });

  it('places such a problem at its key in the file, as validate prints', () => {
    const yaml = file('gateway.yaml', [
      'site: { group: g, node: n }',
      'broker:',
      '  users:',
      '    - { name: a, password_env: A }',
      '    - name: b',
      '      password_file: /nowhere/b',
      '',
    ].join('\n'));
    expect(locateProblems(yaml, [{ path: ['broker', 'users', 1, 'password_file'], message: 'cannot read /nowhere/b: no such file' }])).toEqual([
      { file: yaml, line: 6, col: 22, path: 'broker.users[1].password_file', message: 'cannot read /nowhere/b: no such file' },
    ]);
    // A key the file does not hold is placed at the nearest one it does.
    expect(locateProblems(yaml, [{ path: ['broker', 'tls', 'cert_file'], message: 'x' }])[0]).toMatchObject({ line: 3, path: 'broker.tls.cert_file' });
  });
});

describe('what a reload of the broker section applies in place', () => {
  const broker = (yaml: string) => parseConfig(`site: { group: g, node: n }\nbroker:\n${yaml}`).broker;
  const base = [
    '  listen: 127.0.0.1:1883',
    '  users: [{ name: a, password_env: A, subscribe: ["#"], publish: ["#"] }]',
    '  tls: { listen: 127.0.0.1:8883, cert_file: /c.pem, key_file: /k.pem, ca_file: /ca.pem }',
  ];

  it('users, rights, limits and the TLS files in place; a moved listener, or TLS added, removed, or its client certificates switched, at the restart', () => {
    const from = broker(base.join('\n'));
    const users = broker([base[0], '  users: [{ name: b, password_env: B }]', '  max_clients: 5', base[2]].join('\n'));
    expect(brokerRestartKeys(from, users)).toEqual([]);
    expect(brokerSecurityChanged(from, users)).toBe(true);
    expect(brokerInPlace(from, users)).toEqual({ running: users, reloadTls: true });

    const renamed = broker([base[0], base[1], '  tls: { listen: 127.0.0.1:8883, cert_file: /new.pem, key_file: /new.key, ca_file: /ca2.pem }'].join('\n'));
    expect(brokerRestartKeys(from, renamed)).toEqual([]);
    expect(brokerInPlace(from, renamed).running.tls).toMatchObject({ cert_file: '/new.pem', ca_file: '/ca2.pem' });

    const moved = broker(['  listen: 0.0.0.0:1884', base[1], '  tls: { listen: 0.0.0.0:8884, cert_file: /new.pem, key_file: /k.pem, ca_file: /ca.pem }'].join('\n'));
    expect(brokerRestartKeys(from, moved)).toEqual(['broker.listen', 'broker.tls.listen']);
    expect(brokerSecurityChanged(from, moved)).toBe(true); // the new cert_file
    const running = brokerInPlace(from, moved).running;
    expect(running.listen).toEqual(from.listen);
    expect(running.tls).toEqual({ ...moved.tls, listen: from.tls!.listen });

    const noClientCerts = broker([base[0], base[1], '  tls: { listen: 127.0.0.1:8883, cert_file: /c.pem, key_file: /k.pem }'].join('\n'));
    expect(brokerRestartKeys(from, noClientCerts)).toEqual(['broker.tls.ca_file']);
    expect(brokerInPlace(from, noClientCerts)).toEqual({ running: from, reloadTls: false });

    const noTls = broker([base[0], base[1]].join('\n'));
    expect(brokerRestartKeys(from, noTls)).toEqual(['broker.tls']);
    expect(brokerInPlace(from, noTls)).toEqual({ running: from, reloadTls: false });
    expect(brokerRestartKeys(noTls, from)).toEqual(['broker.tls']);
    expect(brokerInPlace(noTls, from)).toEqual({ running: noTls, reloadTls: false });
    expect(brokerSecurityChanged(noTls, from)).toBe(false);

    expect(brokerRestartKeys(from, broker([...base, '  embedded: false', '  node_user: a'].join('\n')))).toEqual(['broker.embedded']);
  });
});
