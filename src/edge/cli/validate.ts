// `edge-gateway validate`: checks a config file and the drop-ins in conf.d beside it, as ExecStartPre and
// ExecReload do before the gateway starts or reloads; on a good file it also tells how long the journal holds
// data on this machine's disk and which Kafka client the uplink would use here.
import { basename, join, resolve } from 'node:path';
import { resolveJournalBound } from '../../uplink/journal/capacity.js';
import { chooseClient } from '../../uplink/kafka/client-choice.js';
import { planCapacityLine } from '../capacity-text.js';
import { DROP_IN_DIR } from '../config/drop-ins.js';
import { configErrorText, loadConfigWithDropIns } from '../config/load.js';
import { pollPlan } from '../config/poll-plan.js';
import type { GatewayConfig } from '../config/schema.js';

/** Exit 0 when the file and its drop-ins are valid, 2 otherwise (each problem FILE:LINE:COL on stderr). */
export function validate(file: string): number {
  try {
    const { config, dropIns } = loadConfigWithDropIns(file);
    const tags = config.devices.reduce((n, d) => n + d.tags.length, 0);
    process.stdout.write(`${file}: valid (${config.devices.length} devices, ${tags} tags)${dropInsRead(dropIns)}\n${journalCapacityLine(config)}\n${uplinkLine(config)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${configErrorText(file, err)}\n`);
    return 2;
  }
}

/** The drop-ins merged, named as they sit beside the config: " with 2 drop-ins: conf.d/line1.yaml, conf.d/line2.yaml". */
function dropInsRead(files: readonly string[]): string {
  if (files.length === 0) return '';
  return ` with ${files.length} drop-in${files.length === 1 ? '' : 's'}: ${files.map((f) => join(DROP_IN_DIR, basename(f))).join(', ')}`;
}

/** Which Kafka client the uplink would run on here, and what it sends. */
function uplinkLine(config: GatewayConfig): string {
  const kafka = config.uplink.kafka;
  if (!kafka) return 'uplink: none configured (the journal keeps everything until one is)';
  const target = `${kafka.brokers.join(',')}/${kafka.topic}`;
  const choice = chooseClient(kafka);
  if (choice.client === 'kafkajs') {
    const why = kafka.client === undefined ? ' (the native client is not built here)' : '';
    return `uplink: ${target} through kafkajs${why}, compression ${choice.compression}`;
  }
  if (choice.unavailable) return `uplink: ${target}: this machine cannot start it: ${choice.unavailable}`;
  return `uplink: ${target} through librdkafka ${choice.librdkafka}, compression ${choice.compression}`;
}

/** The journal's bound, resolved against data_dir's disk now, and the hours it holds at the poll plan's rate. */
function journalCapacityLine(config: GatewayConfig): string {
  const dataDir = resolve(config.data_dir);
  try {
    const bound = resolveJournalBound(config.buffer.max_bytes, dataDir, join(dataDir, 'journal.db'));
    return planCapacityLine(config.buffer.max_bytes, bound, dataDir, pollPlan(config.devices));
  } catch (err) {
    // The file is valid; the disk is a matter of the machine it runs on.
    return `journal: the disk holding ${dataDir} cannot be measured here (${(err as Error).message}); the capacity is not known`;
  }
}
