// Password hashes for broker users: scrypt from node:crypto, in one self-describing string that
// `edge-gateway passwd` prints and `broker.users[].password_hash` holds:
//   scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>
import { randomBytes, scrypt, timingSafeEqual, createHash } from 'node:crypto';
import { readSecret, type SecretSource } from './secrets.js';

const PREFIX = 'scrypt';
/** N = 2^14, r = 8: 16 MiB and some 50 ms per check on a Raspberry Pi 4 class CPU; OWASP's floor for scrypt. */
const DEFAULT = { logN: 14, r: 8, p: 1 };
const KEY_LENGTH = 32;
const HASH_RE = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/]{16,}={0,2})\$([A-Za-z0-9+/]{43}=)$/;

interface Parsed {
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(text: string): Parsed | undefined {
  const m = HASH_RE.exec(text.trim());
  if (!m) return undefined;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') };
}

export function isPasswordHash(text: string): boolean {
  return parse(text) !== undefined;
}

function derive(password: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { logN, r, p } = DEFAULT;
  const hash = await derive(password, salt, logN, r, p);
  return [PREFIX, logN, r, p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** True when `password` matches `stored` (a hash from hashPassword); false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const hash = await derive(password, parsed.salt, parsed.logN, parsed.r, parsed.p);
  return timingSafeEqual(hash, parsed.hash);
}

/** Compares two secrets in constant time, whatever their lengths. */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** A hash of a random password: checked against when a login names an unknown user, so that takes as long. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

/** A user whose password is a hash, a file or an environment variable (broker.users[], http.users[]). */
export interface PasswordUser extends SecretSource {
  password_hash?: string | undefined;
}

/**
 * Checks a login's password against the user's: `hash` or `secret` (with the secret read now) when it matches,
 * undefined when not. An unknown user (undefined) costs as long as a real check, so that names cannot be probed by
 * timing. Throws a SecretError naming `key` when the user's password file or variable cannot be read.
 */
export async function checkPassword(user: PasswordUser | undefined, given: string, key: string): Promise<{ by: 'hash'; hash: string } | { by: 'secret'; secret: string } | undefined> {
  if (!user) {
    await verifyPassword(given, await decoyHash());
    return undefined;
  }
  if (user.password_hash !== undefined) return (await verifyPassword(given, user.password_hash)) ? { by: 'hash', hash: user.password_hash } : undefined;
  const secret = readSecret(user, key);
  return sameSecret(given, secret) ? { by: 'secret', secret } : undefined;
}
