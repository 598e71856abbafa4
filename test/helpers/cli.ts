import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = `${ROOT}dist/edge/cli.js`;

/**
 * Runs the built command line; `npm test` builds it first. The bound is for a command that hangs: `verify` over a
 * large topic on a loaded machine takes a while, and a command cut short would fail the test for no fault of its own.
 */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): { code: number | null; stdout: string; stderr: string } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', timeout: timeoutMs });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') throw new Error(`edge-gateway ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${r.stderr}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs the built command line without blocking the test's event loop, for tests whose peers (a simulated PLC,
 * an MQTT publisher) run in the test process itself.
 */
export function runCliAsync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
