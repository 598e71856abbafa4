// A Kafka broker for the benchmarks: scripts/kafka.sh on a free port, ready once a topic can be created.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

export async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startKafka(root) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-kafka-'));
  const child = spawn('bash', [join(root, 'scripts/kafka.sh'), 'start', '--port', String(port), '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  process.on('exit', () => child.kill('SIGKILL'));
  const bootstrap = `127.0.0.1:${port}`;
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error(`Kafka did not start: ${stderr.slice(-2000)}`);
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'bench.warmup', numPartitions: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const stop = () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }).then(() => rmSync(dir, { recursive: true, force: true }));
      return { bootstrap, stop, dir };
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error('Kafka did not become ready in 60 s');
}
