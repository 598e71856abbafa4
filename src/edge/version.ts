// The package's version, read once from package.json: dist/edge/version.js (and src/edge/version.ts under the
// tests) → ../../package.json. A missing or unreadable file gives "unknown", never an exception.
import { readFileSync } from 'node:fs';

/** The `version` of the package.json at `url`, or "unknown" when it cannot be read. */
export function readPackageVersion(url: URL = new URL('../../package.json', import.meta.url)): string {
  try {
    const version = (JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' && version !== '' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

let cached: string | undefined;

/** This package's version (package.json), read at the first call. */
export function packageVersion(): string {
  cached ??= readPackageVersion();
  return cached;
}

/** What `edge-gateway --version` prints: `edge-gateway 0.1.0 (Node.js v20.19.0)`. */
export function versionLine(): string {
  return `edge-gateway ${packageVersion()} (Node.js ${process.version})`;
}
