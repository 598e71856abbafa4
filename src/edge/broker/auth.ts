// Who may connect to the site broker, and what each client may do there. Pure of aedes: server.ts wires it in.
import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ALL_RIGHTS, mayPublish, maySubscribe, NO_RIGHTS, type TopicRights } from './acl.js';
import { ConfigValueError, type ValueProblem } from '../config/value-error.js';
import { countedLog, limitedLog, type CountedLog, type LimitedLog } from './limited-log.js';
import { checkPassword, sameSecret } from '../config/passwords.js';
import { readSecret, SecretError, type SecretSource } from '../config/secrets.js';

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
  /** Logged in with the embedded broker's internal edge node credential, which no reload changes. */
  internal?: boolean;
  /** A keyed digest of the password this client logged in with (never the password), for a reload to compare. */
  credential?: string;
}

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
export const SERVER_UNAVAILABLE = 3;
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

export type LoginResult = { ok: true; identity: Identity } | { ok: false; returnCode: number; reason: RefusalReason };
export type RefusalReason = 'anonymous' | 'bad_login' | 'max_clients' | 'max_clients_per_ip' | 'reserved_client_id';

export interface BrokerAccessStats {
  refused: Record<RefusalReason, number>;
  denied: { publish: number; subscribe: number };
  /** Clients a reload disconnected: their user was removed, their password changed, or anonymous ones are refused. */
  disconnected: Record<DisconnectReason, number>;
}

/** One user of `broker.users` as logins and reloads see it. */
export interface UserEntry {
  index: number;
  user: BrokerUserConfig;
  /** A keyed digest of the user's current password (see `credentialDigest`); undefined while it cannot be read. */
  credential: string | undefined;
}

/** The rules of one `broker` section, with its users' passwords as read when the section was loaded. */
export interface AccessRules {
  config: BrokerAccessConfig;
  users: ReadonlyMap<string, UserEntry>;
  /** The rights of anonymous clients; undefined when they are refused. */
  anonymous: TopicRights | undefined;
}

export type DisconnectReason = 'user_removed' | 'password_changed' | 'anonymous_refused';
export type Verdict = { keep: Identity } | { disconnect: DisconnectReason };

/**
 * May a client that logged in as `identity` stay connected under `rules`? It goes when its user was removed, when
 * the password it logged in with is no longer its user's password, or when it is anonymous and anonymous clients
 * are refused now. One that stays gets its user's rights under the new rules. The embedded broker's own edge node
 * (its internal credential) always stays.
 */
export function reviewClient(identity: Identity, rules: AccessRules): Verdict {
  if (identity.internal) return { keep: identity };
  if (identity.user === null) return rules.anonymous ? { keep: { ...identity, rights: rules.anonymous } } : { disconnect: 'anonymous_refused' };
  const entry = rules.users.get(identity.user);
  if (!entry) return { disconnect: 'user_removed' };
  if (entry.credential === undefined || entry.credential !== identity.credential) return { disconnect: 'password_changed' };
  return { keep: { ...identity, rights: entry.user } };
}

/** The clients among `clients` that must go under `rules`, with why; the others stay. */
export function clientsToDisconnect<C>(clients: Iterable<[C, Identity]>, rules: AccessRules): Array<{ client: C; identity: Identity; reason: DisconnectReason }> {
  const gone: Array<{ client: C; identity: Identity; reason: DisconnectReason }> = [];
  for (const [client, identity] of clients) {
    const verdict = reviewClient(identity, rules);
    if ('disconnect' in verdict) gone.push({ client, identity, reason: verdict.disconnect });
  }
  return gone;
}

/** Per process: digests of passwords can be compared within this process and mean nothing outside it. */
const DIGEST_KEY = randomBytes(32);

/** Which password a user has (a hash from `edge-gateway passwd`, or a secret from a file or variable), keyed and one-way. */
export function credentialDigest(kind: 'hash' | 'secret', value: string): string {
  return createHmac('sha256', DIGEST_KEY).update(kind).update('\0').update(value).digest('base64url');
}

/**
 * The rules of a `broker` section. Passwords from files and variables are read now, so that a reload knows which
 * clients logged in with a password that is no longer the valid one. One that cannot be read is given to
 * `unreadable`; `loadAccessRules` refuses the section instead.
 */
export function accessRules(config: BrokerAccessConfig, unreadable: (index: number, user: BrokerUserConfig, err: SecretError) => void): AccessRules {
  const users = new Map<string, UserEntry>();
  config.users?.forEach((user, index) => {
    let credential: string | undefined;
    if (user.password_hash !== undefined) credential = credentialDigest('hash', user.password_hash);
    else {
      try {
        credential = credentialDigest('secret', readSecret(user, `broker.users[${index}]`));
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        unreadable(index, user, err);
      }
    }
    users.set(user.name, { index, user, credential });
  });
  // No users: the broker is open to whoever may connect (loopback, or allow_anonymous written out), as before.
  const hasUsers = users.size > 0;
  const anonymous = !hasUsers || config.allow_anonymous ? config.anonymous ?? (hasUsers ? NO_RIGHTS : ALL_RIGHTS) : undefined;
  return { config, users, anonymous };
}

/** The rules of a new `broker` section for a reload; every password that cannot be read is a problem naming its key. */
export function loadAccessRules(config: BrokerAccessConfig): AccessRules {
  const problems: ValueProblem[] = [];
  const rules = accessRules(config, (index, _user, err) => problems.push({ path: ['broker', 'users', index, ...(err.field ? [err.field] : [])], message: err.reason }));
  if (problems.length > 0) throw new ConfigValueError(problems);
  return rules;
}

/** The username the embedded broker's internal node credential goes by; `$` cannot start a configured name. */
export const INTERNAL_NODE_USER = '$edge-node';

/**
 * The credential the gateway's edge node logs in with: for the embedded broker, a random password made now and kept
 * in memory only, which no reload changes, so a reload can never lock the node out of its own broker; for the broker
 * in its own process, `broker.node_user` with its password from its file or environment variable, read now.
 */
export function nodeLogin(broker: BrokerAccessConfig & { embedded: boolean }): NodeLogin | undefined {
  if (broker.embedded) return { username: INTERNAL_NODE_USER, password: randomBytes(32).toString('base64url') };
  if (broker.node_user !== undefined) {
    const i = broker.users?.findIndex((u) => u.name === broker.node_user) ?? -1;
    const user = broker.users?.[i];
    if (user) return { username: user.name, password: readSecret(user, `broker.users[${i}]`) };
  }
  return undefined;
}

export class BrokerAccess {
  private rules: AccessRules;
  /** Counts reloads, so that a login checked against older rules is checked again. */
  private generation = 0;
  private readonly admitted = new Map<object, string>();
  private readonly perIp = new Map<string, number>();
  private readonly limited: LimitedLog;
  /** Refusals and denials: counted in `stats` and logged by one call each (see countedLog). */
  private readonly refused: CountedLog<RefusalReason>;
  private readonly denied: CountedLog<'publish' | 'subscribe'>;
  readonly stats: BrokerAccessStats = {
    refused: { anonymous: 0, bad_login: 0, max_clients: 0, max_clients_per_ip: 0, reserved_client_id: 0 },
    denied: { publish: 0, subscribe: 0 },
    disconnected: { user_removed: 0, password_changed: 0, anonymous_refused: 0 },
  };

  constructor(
    config: BrokerAccessConfig,
    private readonly internal: { login: NodeLogin; rights: TopicRights } | undefined,
    log: Logger,
    /** The MQTT client id of the gateway's edge node, which only its own login may use (see `mayUseClientId`). */
    private readonly nodeClientId?: string,
  ) {
    this.limited = limitedLog(log);
    this.refused = countedLog(this.stats.refused, this.limited);
    this.denied = countedLog(this.stats.denied, this.limited);
    this.rules = accessRules(config, (_index, user, err) =>
      log.error({ user: user.name, err: err.message }, `Broker user "${user.name}" cannot log in until its password can be read: ${err.message}`));
  }

  get config(): BrokerAccessConfig {
    return this.rules.config;
  }

  /** From now on logins, rights and limits follow `rules` (from `loadAccessRules`); see `review` for clients already in. */
  reconfigure(rules: AccessRules): void {
    this.rules = rules;
    this.generation += 1;
  }

  /** Whether a client logged in as `identity` may stay under the current rules, and with which rights. */
  review(identity: Identity): Verdict {
    return reviewClient(identity, this.rules);
  }

  /** Counts a client that a reload disconnected (server.ts closes it and logs it). */
  disconnected(reason: DisconnectReason): void {
    this.stats.disconnected[reason] += 1;
  }

  async login(username: string | undefined, password: Buffer | undefined, remote: string): Promise<LoginResult> {
    const generation = this.generation;
    let identity = await this.authenticate(username, password, remote);
    // A reload while the password was checked: the client is judged by the rules now in force, as those already in were.
    if (identity && generation !== this.generation) {
      const verdict = this.review(identity);
      identity = 'keep' in verdict ? verdict.keep : undefined;
    }
    if (!identity) {
      const reason: RefusalReason = username === undefined ? 'anonymous' : 'bad_login';
      this.refused(reason, `${reason}:${username}:${remote}`, { user: username ?? null, remote, reason },
        username === undefined ? 'MQTT connection refused: anonymous clients are not allowed (broker.users is set or the listener is on the network).' : `MQTT connection refused: wrong user name or password for "${username}".`);
      return { ok: false, returnCode: username === undefined ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD, reason };
    }
    return { ok: true, identity };
  }

  private async authenticate(username: string | undefined, password: Buffer | undefined, remote: string): Promise<Identity | undefined> {
    const rules = this.rules;
    if (username === undefined || username === '') {
      return rules.anonymous ? { user: null, rights: rules.anonymous, node: false } : undefined;
    }
    const given = password?.toString('utf8') ?? '';
    if (this.internal && username === this.internal.login.username && sameSecret(given, this.internal.login.password)) {
      return { user: username, rights: this.internal.rights, node: true, internal: true };
    }
    const entry = rules.users.get(username);
    let credential: string | undefined;
    try {
      const proved = await checkPassword(entry?.user, given, `broker.users[${entry?.index}]`);
      if (proved) credential = proved.by === 'hash' ? credentialDigest('hash', proved.hash) : credentialDigest('secret', proved.secret);
    } catch (err) {
      this.error(`secret:${username}`, { user: username, remote, err: (err as Error).message }, `MQTT login of "${username}" refused: ${(err as Error).message}`);
    }
    if (!entry || credential === undefined) return undefined;
    return { user: username, rights: entry.user, node: username === rules.config.node_user, credential };
  }

  /**
   * May a client logged in as `identity` use the MQTT client id `clientId`? The edge node's id belongs to the node's
   * own login (the embedded broker's internal credential, else `broker.node_user`): under [MQTT-3.1.4-2] any other
   * client using it would close the node's connection and end its Sparkplug session (NDEATH, a new bdSeq). A broker
   * without either (an open broker in its own process) cannot tell the node apart, and reserves nothing.
   */
  mayUseClientId(clientId: string, identity: Identity, remote: string): { ok: true } | { ok: false; returnCode: number; reason: RefusalReason } {
    if (this.nodeClientId === undefined || clientId !== this.nodeClientId) return { ok: true };
    const nodeUser = this.rules.config.node_user;
    const owner = this.internal ? identity.internal === true : nodeUser === undefined || identity.user === nodeUser;
    if (owner) return { ok: true };
    const who = identity.user === null ? 'an anonymous client' : `user "${identity.user}"`;
    this.refused('reserved_client_id', `reserved_client_id:${identity.user}:${remote}`, { user: identity.user, remote, clientId, reason: 'reserved_client_id' },
      `MQTT connection refused: ${who} from ${remote} used the client id "${clientId}", which is the gateway's edge node's; the node's session stays.`);
    return { ok: false, returnCode: NOT_AUTHORIZED, reason: 'reserved_client_id' };
  }

  /** Counts a logged-in client against the limits; false (and counted, logged) when it is one too many. */
  admit(client: object, identity: Identity, ip: string): { ok: true } | { ok: false; returnCode: number; reason: RefusalReason } {
    if (!identity.node) {
      const max = this.rules.config.max_clients ?? Number.POSITIVE_INFINITY;
      const perIp = this.rules.config.max_clients_per_ip ?? Number.POSITIVE_INFINITY;
      const reason: RefusalReason | undefined =
        this.admitted.size >= max ? 'max_clients' : (this.perIp.get(ip) ?? 0) >= perIp ? 'max_clients_per_ip' : undefined;
      if (reason) {
        const limit = reason === 'max_clients' ? max : perIp;
        this.refused(reason, `${reason}:${ip}`, { user: identity.user, remote: ip, reason, limit },
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
    this.denied('publish', `publish:${identity?.user}:${topic}`, { user: identity?.user ?? null, remote, topic },
      `MQTT publish dropped: ${identity?.user ? `user "${identity.user}"` : 'an anonymous client'} may not publish to ${topic}${/^spBv1\.0\/[^/]+\/[ND]CMD\//.test(topic) ? ' (Sparkplug commands need "command: true")' : ''}.`);
    return false;
  }

  maySubscribe(identity: Identity | undefined, filter: string, remote: string): boolean {
    if (identity && maySubscribe(identity.rights, filter)) return true;
    this.denied('subscribe', `subscribe:${identity?.user}:${filter}`, { user: identity?.user ?? null, remote, filter },
      `MQTT subscription refused: ${identity?.user ? `user "${identity.user}"` : 'an anonymous client'} may not subscribe to ${filter}.`);
    return false;
  }

  private error(key: string, fields: Record<string, unknown>, message: string): void {
    this.limited('error', key, fields, message);
  }
}
