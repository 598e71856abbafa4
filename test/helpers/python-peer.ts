// The Python peers of the tests (pymodbus, pysparkplug): pinned packages from PyPI, each in its own venv under
// .cache/, installed by scripts/<name>.sh on first use.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

/** The venv's python with `name` installed (scripts/<name>.sh); fails saying how to get it. */
export function peerPython(name: string): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', `${name}.sh`)], { encoding: 'utf8' });
  const python = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !existsSync(python)) {
    throw new Error(`${name} is not available: run "bash scripts/${name}.sh" (needs python3 and python3-venv: apt-get install -y python3-venv). ${r.stderr ?? ''}`.trim());
  }
  return python;
}
