// The site's MQTT broker as a process of its own: ours (`edge-gateway broker`) or Debian's Mosquitto, so that the
// Sparkplug tests prove nothing depends on one broker's quirks.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayProcess, track } from './gateway.js';
import { freePort, waitFor } from './net.js';

export type BrokerKind = 'edge-gateway' | 'mosquitto';
export const BROKER_KINDS: BrokerKind[] = ['edge-gateway', 'mosquitto'];

export interface SiteBroker {
  readonly kind: BrokerKind;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startSiteBroker(kind: BrokerKind, port?: number): Promise<SiteBroker> {
  const p = port ?? (await freePort());
  if (kind === 'edge-gateway') {
    const g = await GatewayProcess.create({ extraYaml: '', command: 'broker', ports: { mqtt: p, http: await freePort() } });
    await g.start();
    return { kind, port: p, stop: async () => void (await g.stop()) };
  }
  return startMosquitto(p);
}

function requireMosquitto(): void {
  const r = spawnSync('mosquitto', ['-h']);
  if (r.error) throw new Error('the mosquitto broker is missing: install Debian\'s mosquitto (apt-get install -y mosquitto)');
}

async function startMosquitto(port: number): Promise<SiteBroker> {
  requireMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const log = join(dir, 'mosquitto.log');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', `log_dest file ${log}`, 'log_type all', ''].join('\n'));
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  track(child);
  await waitFor(`mosquitto to listen on ${port}`, () => {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${safeRead(log)}`);
    return new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }, 10_000, 50);
  return {
    kind: 'mosquitto',
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}
