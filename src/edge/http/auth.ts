// Who may read the status page, /api/status and /metrics: `http.users` over HTTP Basic. Passwords are checked like
// the broker's (a scrypt hash, or a secret from a file or the environment, read at each check). A successful scrypt
// check is remembered for a minute by a digest of the header, so that a page refreshing every few seconds and a
// Prometheus scrape do not pay for scrypt every time; a hash changes only with a restart, while a password file is
// read at every request, so a changed one applies at once.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { checkPassword, type PasswordUser } from '../config/passwords.js';

export interface HttpUser extends PasswordUser {
  name: string;
}

export type HttpRefusal = 'no_login' | 'bad_login';

export interface HttpAccessStats {
  refused: Record<HttpRefusal, number>;
}

const REMEMBER_MS = 60_000;

export class HttpAccess {
  readonly stats: HttpAccessStats = { refused: { no_login: 0, bad_login: 0 } };
  private readonly remembered = new Map<string, number>();
  private readonly logged = new Set<string>();

  constructor(
    private readonly users: readonly HttpUser[],
    private readonly log: Logger,
  ) {}

  /** The user a request's Authorization header names and proves, or why it is refused. */
  async check(authorization: string | undefined, remote: string): Promise<{ ok: true; user: string } | { ok: false; reason: HttpRefusal }> {
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
    const decoded = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8') : undefined;
    const colon = decoded?.indexOf(':') ?? -1;
    if (decoded === undefined || colon < 1) return this.refuse('no_login', undefined, remote);
    const name = decoded.slice(0, colon);
    const given = decoded.slice(colon + 1);
    const key = createHash('sha256').update(decoded, 'utf8').digest('base64');
    const until = this.remembered.get(key);
    if (until !== undefined && until > Date.now()) return { ok: true, user: name };
    const verdict = await this.verify(name, given);
    if (verdict !== false) {
      if (verdict === 'hash') {
        if (this.remembered.size > 1000) this.remembered.clear();
        this.remembered.set(key, Date.now() + REMEMBER_MS);
      }
      return { ok: true, user: name };
    }
    return this.refuse('bad_login', name, remote);
  }

  /** false, or how the password was proved. */
  private async verify(name: string, given: string): Promise<false | 'hash' | 'secret'> {
    const index = this.users.findIndex((u) => u.name === name);
    try {
      return (await checkPassword(this.users[index], given, `http.users[${index}]`))?.by ?? false;
    } catch (err) {
      this.log.error({ user: name, err: (err as Error).message }, `Status page login of "${name}" refused: ${(err as Error).message}`);
      return false;
    }
  }

  private refuse(reason: HttpRefusal, user: string | undefined, remote: string): { ok: false; reason: HttpRefusal } {
    this.stats.refused[reason] += 1;
    // A browser asks without a login first, every time: only wrong logins are worth a line, once per user and address.
    const once = `${user}@${remote}`;
    if (reason === 'bad_login' && !this.logged.has(once)) {
      if (this.logged.size > 1000) this.logged.clear();
      this.logged.add(once);
      this.log.warn({ user, remote }, `Status page login refused: wrong user name or password for "${user}" from ${remote}.`);
    }
    return { ok: false, reason };
  }
}
