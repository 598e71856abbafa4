import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPackageVersion } from '../src/edge/version.js';
import { runCli } from './helpers/cli.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('edge-gateway --version', () => {
  it('prints the package.json version and the Node.js version, and exits 0', () => {
    for (const args of [['--version'], ['version']]) {
      const r = runCli(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(`edge-gateway ${version} (Node.js ${process.version})\n`);
    }
  });

  it('is listed in the usage text', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}edge-gateway --version /m);
  });

  it('reads "unknown" rather than throwing when package.json is missing or has no version', () => {
    expect(readPackageVersion(new URL('../package.json', import.meta.url))).toBe(version);
    expect(readPackageVersion(new URL('./no-such-package.json', import.meta.url))).toBe('unknown');
    expect(readPackageVersion(new URL('../tsconfig.json', import.meta.url))).toBe('unknown');
  });
});
