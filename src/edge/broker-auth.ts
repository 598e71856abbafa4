// Who may connect to the site broker, and what each client may do there. Pure of aedes: broker.ts wires it in.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ALL_RIGHTS, mayPublish, maySubscribe, NO_RIGHTS, type TopicRights } from './broker-acl.js';
import { decoyHash, sameSecret, verifyPassword } from './passwords.js';
import { readSecret, type SecretSource } from './secrets.js';

export interface BrokerUserConfig extends SecretSource {
  name: string;
  password_hash?: string | undefined;
  publish: string[];
  subscribe: string[];
  command: boolean;
}

/** The `broker` config keys this module reads. */
export interface BrokerAccessConfig {
  allow_anonymous?: boolean;
  users?: BrokerUserConfig[] | undefined;
  anonymous?: { publish: string[]; subscribe: string[]; command: boolean } | undefined;
  node_user?: string | undefined;
  max_clients?: number;
  max_clients_per_ip?: number | undefined;
}

/** How the gateway's own edge node logs in (see `nodeLogin`). */
export interface NodeLogin {
  username: string;
  password: string;
}

export interface Identity {
  /** The user name, or null for an anonymous client. */
  user: string | null;
  rights: TopicRights;
  /** The gateway's own edge node: never refused for the client limits. */
  node: boolean;
}

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
export const SERVER_UNAVAILABLE = 3;
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

export type LoginResult = { ok: true; identity: Identity } | { ok: false; returnCode: number; reason: RefusalReason };
export type RefusalReason = 'anonymous' | 'bad_login' | 'max_clients' | 'max_clients_per_ip';

export interface BrokerAccessStats {
  refused: Record<RefusalReason, number>;
  denied: { publish: number; subscribe: number };
}

/** The username the embedded broker's internal node credential goes by; `$` cannot start a configured name. */
export const INTERNAL_NODE_USER = '$edge-node';

/**
 * The credential the gateway's edge node logs in with: `broker.node_user` with its password from its file or
 * environment variable; otherwise, for the embedded broker, a random password made now and kept in memory only.
 */
export function nodeLogin(broker: BrokerAccessConfig & { embedded: boolean }): NodeLogin | undefined {
  if (broker.node_user !== undefined) {
    const i = broker.users?.findIndex((u) => u.name === broker.node_user) ?? -1;
    const user = broker.users?.[i];
    if (user) return { username: user.name, password: readSecret(user, `broker.users[${i}]`) };
  }
  if (broker.embedded) return { username: INTERNAL_NODE_USER, password: randomBytes(32).toString('base64url') };
  return undefined;
}

export class BrokerAccess {
  private readonly users = new Map<string, { index: number; user: BrokerUserConfig }>();
  private readonly anonymous: TopicRights | undefined;
  private readonly admitted = new Map<object, string>();
  private readonly perIp = new Map<string, number>();
  private readonly logged = new Map<string, { at: number; repeated: number }>();
  readonly stats: BrokerAccessStats = {
    refused: { anonymous: 0, bad_login: 0, max_clients: 0, max_clients_per_ip: 0 },
    denied: { publish: 0, subscribe: 0 },
  };

  constructor(
    private readonly config: BrokerAccessConfig,
    private readonly internal: { login: NodeLogin; rights: TopicRights } | undefined,
    private readonly log: Logger,
  ) {
    config.users?.forEach((user, index) => this.users.set(user.name, { index, user }));
    const hasUsers = this.users.size > 0;
    // No users: the broker is open to whoever may connect (loopback, or allow_anonymous written out), as before.
    if (!hasUsers || config.allow_anonymous) this.anonymous = config.anonymous ?? (hasUsers ? NO_RIGHTS : ALL_RIGHTS);
    for (const [name, { index, user }] of this.users) {
      if (user.password_hash !== undefined) continue;
      try {
        readSecret(user, `broker.users[${index}]`);
      } catch (err) {
        log.error({ user: name, err: (err as Error).message }, `Broker user "${name}" cannot log in until its password can be read: ${(err as Error).message}`);
      }
    }
  }

  async login(username: string | undefined, password: Buffer | undefined, remote: string): Promise<LoginResult> {
    const identity = await this.authenticate(username, password, remote);
    if (!identity) {
      const reason: RefusalReason = username === undefined ? 'anonymous' : 'bad_login';
      this.stats.refused[reason] += 1;
      this.warn(`${reason}:${username}:${remote}`, { user: username ?? null, remote, reason },
        username === undefined ? 'MQTT connection refused: anonymous clients are not allowed (broker.users is set or the listener is on the network).' : `MQTT connection refused: wrong user name or password for "${username}".`);
      return { ok: false, returnCode: username === undefined ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD, reason };
    }
    return { ok: true, identity };
  }

  private async authenticate(username: string | undefined, password: Buffer | undefined, remote: string): Promise<Identity | undefined> {
    if (username === undefined || username === '') {
      return this.anonymous ? { user: null, rights: this.anonymous, node: false } : undefined;
    }
    const given = password?.toString('utf8') ?? '';
    if (this.internal && username === this.internal.login.username) {
      return sameSecret(given, this.internal.login.password) ? { user: username, rights: this.internal.rights, node: true } : undefined;
    }
    const entry = this.users.get(username);
    if (!entry) {
      await verifyPassword(given, await decoyHash()); // as long as a real check: user names are not probed by timing
      return undefined;
    }
    const { user, index } = entry;
    let ok: boolean;
    if (user.password_hash !== undefined) ok = await verifyPassword(given, user.password_hash);
    else {
      try {
        ok = sameSecret(given, readSecret(user, `broker.users[${index}]`));
      } catch (err) {
        this.error(`secret:${username}`, { user: username, remote, err: (err as Error).message }, `MQTT login of "${username}" refused: ${(err as Error).message}`);
        ok = false;
      }
    }
    if (!ok) return undefined;
    return { user: username, rights: user, node: username === this.config.node_user };
  }

  /** Counts a logged-in client against the limits; false (and counted, logged) when it is one too many. */
  admit(client: object, identity: Identity, ip: string): { ok: true } | { ok: false; returnCode: number; reason: RefusalReason } {
    if (!identity.node) {
      const max = this.config.max_clients ?? Number.POSITIVE_INFINITY;
      const perIp = this.config.max_clients_per_ip ?? Number.POSITIVE_INFINITY;
      const reason: RefusalReason | undefined =
        this.admitted.size >= max ? 'max_clients' : (this.perIp.get(ip) ?? 0) >= perIp ? 'max_clients_per_ip' : undefined;
      if (reason) {
        this.stats.refused[reason] += 1;
        const limit = reason === 'max_clients' ? max : perIp;
        this.warn(`${reason}:${ip}`, { user: identity.user, remote: ip, reason, limit },
          `MQTT connection refused: ${reason === 'max_clients' ? `${limit} clients are connected (broker.max_clients)` : `${limit} clients are connected from ${ip} (broker.max_clients_per_ip)`}.`);
        return { ok: false, returnCode: SERVER_UNAVAILABLE, reason };
      }
      this.admitted.set(client, ip);
      this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    }
    return { ok: true };
  }

  release(client: object): void {
    const ip = this.admitted.get(client);
    if (ip === undefined) return;
    this.admitted.delete(client);
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.perIp.set(ip, left);
    else this.perIp.delete(ip);
  }

  mayPublish(identity: Identity | undefined, topic: string, remote: string): boolean {
    if (identity && mayPublish(identity.rights, topic)) return true;
    this.stats.denied.publish += 1;
    this.warn(`publish:${identity?.user}:${topic}`, { user: identity?.user ?? null, remote, topic },
      `MQTT publish dropped: ${identity?.user ? `user "${identity.user}"` : 'an anonymous client'} may not publish to ${topic}${/^spBv1\.0\/[^/]+\/[ND]CMD\//.test(topic) ? ' (Sparkplug commands need "command: true")' : ''}.`);
    return false;
  }

  maySubscribe(identity: Identity | undefined, filter: string, remote: string): boolean {
    if (identity && maySubscribe(identity.rights, filter)) return true;
    this.stats.denied.subscribe += 1;
    this.warn(`subscribe:${identity?.user}:${filter}`, { user: identity?.user ?? null, remote, filter },
      `MQTT subscription refused: ${identity?.user ? `user "${identity.user}"` : 'an anonymous client'} may not subscribe to ${filter}.`);
    return false;
  }

  /** One line per kind of refusal and client per minute, with how many were not logged since. */
  private warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.limited(key, fields, message, 'warn');
  }

  private error(key: string, fields: Record<string, unknown>, message: string): void {
    this.limited(key, fields, message, 'error');
  }

  private limited(key: string, fields: Record<string, unknown>, message: string, level: 'warn' | 'error'): void {
    const now = Date.now();
    const seen = this.logged.get(key);
    if (seen && now - seen.at < 60_000) {
      seen.repeated += 1;
      return;
    }
    if (this.logged.size > 10_000) this.logged.clear();
    this.logged.set(key, { at: now, repeated: 0 });
    this.log[level]({ ...fields, ...(seen?.repeated ? { repeatedSinceLastLine: seen.repeated } : {}) }, message);
  }
}
