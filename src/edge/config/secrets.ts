// Secrets (broker user passwords, the Kafka SASL password) are never written in the YAML: the config names a
// file (`password_file`) or an environment variable (`password_env`) and the value is read when it is needed, so a
// fixed or rotated secret is picked up at the next login or connection without a restart. Values never reach a log.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export interface SecretSource {
  password_file?: string | undefined;
  password_env?: string | undefined;
}

/**
 * A relative `password_file` is looked up in systemd's credentials directory ($CREDENTIALS_DIRECTORY, set by
 * `LoadCredential=`) when there is one, else in the working directory.
 */
export function secretPath(file: string): string {
  if (isAbsolute(file)) return file;
  const credentials = process.env.CREDENTIALS_DIRECTORY;
  return credentials ? join(credentials, file) : resolve(file);
}

/** A secret that cannot be read: `${key}.${field}: ${reason}`, naming the file or variable, never a value. */
export class SecretError extends Error {
  constructor(readonly key: string, readonly field: 'password_file' | 'password_env' | undefined, readonly reason: string) {
    super(`${field ? `${key}.${field}` : key}: ${reason}`);
    this.name = 'SecretError';
  }
}

/** Reads the secret; throws a SecretError whose message names `key` (e.g. `uplink.kafka.sasl`) and never the value. */
export function readSecret(source: SecretSource, key: string): string {
  if (source.password_file !== undefined) {
    const file = secretPath(source.password_file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      throw new SecretError(key, 'password_file', `cannot read ${file}: ${why}`);
    }
    // One trailing line end is the editor's, not the password's.
    const value = text.replace(/\r?\n$/, '');
    if (value.length === 0) throw new SecretError(key, 'password_file', `${file} is empty`);
    return value;
  }
  if (source.password_env !== undefined) {
    const value = process.env[source.password_env];
    if (value === undefined || value.length === 0) throw new SecretError(key, 'password_env', `the environment variable ${source.password_env} is not set`);
    return value;
  }
  throw new SecretError(key, undefined, 'no password_file or password_env');
}
