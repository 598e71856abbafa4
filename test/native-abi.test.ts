// A native module built for another Node.js ABI (what a Node upgrade under an installed gateway leaves behind):
// the command line says so in one sentence with the fix, instead of a stack trace. The mismatch is real: a
// tiny addon compiled here registers itself with another NODE_MODULE_VERSION, and Node's own loader refuses it.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { abiMismatchSentence } from '../src/edge/service/native-abi.js';
import { ROOT } from './helpers/cli.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const RUNNING_ABI = Number(process.versions.modules);
const OTHER_ABI = RUNNING_ABI === 127 ? 137 : 127;

/** An addon that registers as `modname` built for `abi`, compiled with the machine's C compiler. */
function foreignAddon(dir: string, modname: string, abi: number): string {
  const c = join(dir, 'foreign.c');
  writeFileSync(c, `#include <stddef.h>
struct node_module { int nm_version; unsigned int nm_flags; void *nm_dso_handle; const char *nm_filename;
  void *nm_register_func; void *nm_context_register_func; const char *nm_modname; void *nm_priv; struct node_module *nm_link; };
extern void node_module_register(void *);
static struct node_module m = { ${abi}, 0, NULL, "foreign.c", NULL, NULL, "${modname}", NULL, NULL };
__attribute__((constructor)) static void reg(void) { node_module_register(&m); }
`);
  const out = join(dir, 'foreign.node');
  const cc = spawnSync('gcc', ['-shared', '-fPIC', '-o', out, c], { encoding: 'utf8' });
  if (cc.error) throw new Error('gcc is missing: apt-get install build-essential');
  expect(cc.status, cc.stderr).toBe(0);
  return out;
}

describe('a native module built for another Node.js', () => {
  it('is named in one sentence with the fix, and nothing else is printed', () => {
    const tree = mkdtempSync(join(tmpdir(), 'edge-abi-'));
    cleanups.push(() => rmSync(tree, { recursive: true, force: true }));
    // A release whose better-sqlite3 was built for another Node: dist copied, every other package linked.
    cpSync(join(ROOT, 'dist'), join(tree, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(tree, 'package.json'));
    mkdirSync(join(tree, 'node_modules'));
    for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
      if (entry !== 'better-sqlite3') symlinkSync(join(ROOT, 'node_modules', entry), join(tree, 'node_modules', entry));
    }
    const pkg = join(tree, 'node_modules/better-sqlite3');
    for (const part of ['package.json', 'lib']) cpSync(join(ROOT, 'node_modules/better-sqlite3', part), join(pkg, part), { recursive: true });
    mkdirSync(join(pkg, 'build/Release'), { recursive: true });
    cpSync(foreignAddon(tree, 'better_sqlite3', OTHER_ABI), join(pkg, 'build/Release/better_sqlite3.node'));

    const r = spawnSync(process.execPath, [join(tree, 'dist/edge/cli.js'), 'validate', '--config', join(ROOT, 'config/gateway.yaml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`the native module better-sqlite3 was built for Node.js ${OTHER_ABI === 127 ? 22 : 24}`);
    expect(lines[0]).toContain(`this is Node.js ${process.versions.node} (NODE_MODULE_VERSION ${RUNNING_ABI})`);
    expect(lines[0]).toContain(`cd ${tree} && npm rebuild`);
    expect(r.stderr).not.toMatch(/^\s+at /m);

    // The same release with the module built for this Node starts as before.
    cpSync(join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), join(pkg, 'build/Release/better_sqlite3.node'));
    const ok = spawnSync(process.execPath, [join(tree, 'dist/edge/cli.js'), 'validate', '--config', join(ROOT, 'config/gateway.yaml')], { encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stderr).toBe(0);
  });

  it('other load errors are not taken for a mismatch', () => {
    expect(abiMismatchSentence('x', new Error('Cannot find module x'))).toBeUndefined();
    expect(abiMismatchSentence('x', new Error('using NODE_MODULE_VERSION 999. This version'), '/opt/x')).toContain('built for NODE_MODULE_VERSION 999');
  });
});
