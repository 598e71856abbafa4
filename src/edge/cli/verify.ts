// `edge-gateway verify`: reads a Kafka topic the gateway sends to and checks every edge node's edge.seq for gaps,
// so that a site engineer can prove that nothing was lost between the journal and the cloud.
import { UsageError } from './usage-error.js';

export const VERIFY_OPTIONS = {
  brokers: { type: 'string' },
  topic: { type: 'string' },
  'from-beginning': { type: 'boolean' },
  follow: { type: 'boolean' },
  'idle-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
} as const;

function positiveMs(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UsageError(`--${name} must be a positive number of milliseconds, not "${text}"`);
  return Number(text);
}

/** Exit 0 when every node's edge.seq is complete, 1 when not or when the topic cannot be read. */
export async function verifyTopic(values: { brokers?: string; topic?: string; 'from-beginning'?: boolean; follow?: boolean; 'idle-ms'?: string; 'timeout-ms'?: string; json?: boolean }): Promise<number> {
  const brokers = (values.brokers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new UsageError('--brokers HOST:PORT[,HOST:PORT] is required');
  const bad = brokers.find((b) => !/^[^\s:]+:[0-9]{1,5}$/.test(b) && !/^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$/.test(b));
  if (bad) throw new UsageError(`--brokers: "${bad}" is not HOST:PORT`);
  if (!values.topic) throw new UsageError('--topic TOPIC is required');
  const idleMs = positiveMs('idle-ms', values['idle-ms']) ?? 5000;
  const timeoutMs = positiveMs('timeout-ms', values['timeout-ms']);
  const { verify, formatReport, ok } = await import('../../uplink/verify/verify.js');
  let report;
  try {
    report = await verify({
      brokers, topic: values.topic, fromBeginning: values['from-beginning'] ?? false, follow: values.follow ?? false, idleMs, timeoutMs,
      // stderr, so that stdout stays the report (and --json stays JSON).
      onProgress: (p) => process.stderr.write(`verify: ${p.done ? 'done, ' : ''}${p.records} records read, ${p.partitionsDone} of ${p.partitions} partitions read up to their end offsets at start, ${(p.elapsedMs / 1000).toFixed(1)} s\n`),
    });
  } catch (err) {
    process.stderr.write(`cannot verify ${values.topic} on ${brokers.join(',')}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(values.json ? `${JSON.stringify({ ok: ok(report), ...report }, null, 2)}\n` : formatReport(report));
  if (report.run && !report.run.endReached) process.stderr.write('warning: stopped before the end offsets that existed at start were read\n');
  return ok(report) ? 0 : 1;
}
