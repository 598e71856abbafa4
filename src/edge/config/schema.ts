// One zod schema is the config's validation, its documentation and its unknown-key rejection.
import cron from 'node-cron';
import { z } from 'zod';
import { durationSchema } from '../../drivers/config/duration.js';
import { journalBoundSchema, sizeSchema } from './size.js';
import { sparkplugId, type TagType } from '../../drivers/config/keys.js';
import type { Endian, ModbusTable, ModbusTagConfig } from '../../drivers/modbus/config.js';
import { deviceSchemaOf, driverRegistry, type DeviceConfig } from '../../drivers/registry.js';
import { hostPort } from './host-port.js';
import { kafkaSchema } from '../../uplink/kafka/config.js';
import { brokerSecurityKeys, brokerSecurityProblems, deviceLoginProblems, httpSecurityKeys, httpSecurityProblems, nodeUserProblems } from './security.js';

const duration = durationSchema;

const size = sizeSchema;

const DEFAULT_JOURNAL_BOUND = { percent: 80 };
/** buffer.commit_interval by default: past some 15 s a longer wait saves an SD card almost nothing (README: SD-card wear). */
export const DEFAULT_COMMIT_INTERVAL_MS = 15_000;
const MAX_BYTES_HELP = 'Bound on the journal: bytes (500MB, 2GiB) or a share of the disk holding data_dir (default 80%): that share of the space free to the gateway plus the journal files\' own size.';

const cronExpression = z
  .string()
  .refine((v) => cron.validate(v), { message: 'not a cron expression (minute hour day month weekday, e.g. "30 3 * * *")' });

// Each driver owns its device keys (src/drivers/<driver>/config.ts); the registry lists them.
export const deviceSchema = deviceSchemaOf(driverRegistry);

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).describe('trace, debug, info (the default), warn, error or fatal');
const logFormat = z.enum(['json', 'pretty']).describe('json (the default) or pretty');

export const configSchema = z
  .strictObject({
    site: z.strictObject({ group: sparkplugId, node: sparkplugId }),
    data_dir: z.string().min(1).default('./data'),
    // The log: `log: { level, format }`; the flat `log_level` and `log_format` of earlier configs mean the same.
    log: z
      .strictObject({
        level: logLevel.optional(),
        // json: one JSON object per line (pino). pretty: time, level, message and fields for a person at a terminal;
        // under systemd, where stdout is the journal, the lines stay JSON (with their `<N>` severities) whatever this says.
        format: logFormat.optional(),
      })
      .optional(),
    log_level: logLevel.optional().meta({ deprecated: true, description: 'the same as log.level (the earlier spelling)' }),
    log_format: logFormat.optional().meta({ deprecated: true, description: 'the same as log.format (the earlier spelling)' }),
    broker: z
      .strictObject({
        listen: hostPort('127.0.0.1').default({ host: '127.0.0.1', port: 1883 }),
        // false: the broker runs in its own process (`edge-gateway broker`) or is another MQTT broker at `listen`,
        // so that HMIs keep their connections and receive the NDEATH when the gateway restarts or crashes.
        embedded: z.boolean().default(true),
        ...brokerSecurityKeys,
      })
      .superRefine(brokerSecurityProblems)
      .prefault({}),
    // How the edge node speaks Sparkplug B on the site broker.
    sparkplug: z
      .strictObject({
        // Data messages carry metric aliases instead of names; births carry both. Aliases are kept in data_dir.
        aliases: z.boolean().default(false),
        // The host id of the primary host application: births wait for its STATE online; data is held while it is offline.
        primary_host: sparkplugId.optional(),
        // Most metrics held (in memory and data_dir/held.db) while the MQTT session is down, published as historical after the next birth.
        hold_max: z.number().int().min(0).default(100_000),
        // Redundant MQTT servers (HOST:PORT), used one at a time in this order: the node goes on to the next when one
        // cannot be reached or the primary host goes offline on it. Default: the broker at broker.listen.
        servers: z.array(hostPort('127.0.0.1')).min(1).optional(),
      })
      .default({ aliases: false, hold_max: 100_000 }),
    devices: z.array(deviceSchema).default([]),
    // The journal: how durable, how large, and what gives when it is full.
    buffer: z
      .strictObject({
        sync: z.enum(['normal', 'full']).default('normal'),
        // Bytes (500MB, 2GiB) or a share of the disk holding data_dir (80%, the default): that share of the space
        // free to the gateway there plus the journal files' own size, measured at start and again at every prune,
        // so that the rest stays free for the system and its logs.
        max_bytes: journalBoundSchema.default(DEFAULT_JOURNAL_BOUND).describe(MAX_BYTES_HELP),
        max_age: duration.default(7 * 86_400_000),
        when_full: z.enum(['drop_oldest', 'drop_newest']).default('drop_oldest'),
        // Group commit's longest wait: samples captured within it share one write (SD-card wear); a commit comes
        // sooner once 256 samples wait. Publishing on MQTT never waits for it; a crash loses what waits.
        commit_interval: duration.default(DEFAULT_COMMIT_INTERVAL_MS).refine((ms) => ms <= 600_000, 'at most 10m: a crash loses what waits for its commit'),
        // After an outage: live data first and the backlog alongside (at most replay_rate records/s), or strict order.
        replay: z.enum(['live_first', 'in_order']).default('live_first'),
        replay_rate: z.number().int().positive().optional(),
        // When the journal prunes by age, checkpoints its WAL, and gives free pages back (cron, local time).
        housekeeping: z
          .strictObject({
            prune: cronExpression.default('* * * * *'),
            checkpoint: cronExpression.default('*/5 * * * *'),
            vacuum: cronExpression.default('30 3 * * *'),
          })
          .default({ prune: '* * * * *', checkpoint: '*/5 * * * *', vacuum: '30 3 * * *' }),
      })
      .default({
        sync: 'normal', max_bytes: DEFAULT_JOURNAL_BOUND, max_age: 7 * 86_400_000, when_full: 'drop_oldest', commit_interval: DEFAULT_COMMIT_INTERVAL_MS, replay: 'live_first',
        housekeeping: { prune: '* * * * *', checkpoint: '*/5 * * * *', vacuum: '30 3 * * *' },
      }),
    uplink: z
      .strictObject({
        kafka: kafkaSchema.optional(),
      })
      .default({}),
    http: z
      .strictObject({
        listen: hostPort('127.0.0.1').default({ host: '127.0.0.1', port: 8080 }),
        ...httpSecurityKeys,
      })
      .superRefine(httpSecurityProblems)
      .default({ listen: { host: '127.0.0.1', port: 8080 }, allow_anonymous: false }),
  })
  .superRefine((config, ctx) => {
    for (const [key, flat] of [['level', 'log_level'], ['format', 'log_format']] as const) {
      if (config.log?.[key] !== undefined && config[flat] !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['log', key], message: `set either log.${key} or ${flat} (its earlier spelling), not both` });
      }
    }
    nodeUserProblems(config, ctx);
    deviceLoginProblems(config, ctx);
    if (config.sparkplug.servers !== undefined && config.broker.embedded) {
      ctx.addIssue({ code: 'custom', path: ['sparkplug', 'servers'], message: 'the edge node walks through these servers only with broker.embedded: false (with the embedded broker it publishes on that broker)' });
    }
    const seen = new Map<string, number>();
    config.devices.forEach((device, i) => {
      // [tck-id-topic-structure-namespace-unique-device-id] [tck-id-case-sensitivity-sparkplug-ids] unique, also ignoring case.
      const prev = seen.get(device.name.toLowerCase());
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'name'], message: `duplicate device name (also devices[${prev}]; names must differ in more than upper/lower case)` });
      }
      seen.set(device.name.toLowerCase(), i);
      // [tck-id-case-sensitivity-metric-names]
      const tagNames = new Set<string>();
      device.tags.forEach((tag, j) => {
        if (tagNames.has(tag.name.toLowerCase())) {
          ctx.addIssue({ code: 'custom', path: ['devices', i, 'tags', j, 'name'], message: `duplicate tag name "${tag.name}" in device "${device.name}" (names must differ in more than upper/lower case)` });
        }
        tagNames.add(tag.name.toLowerCase());
      });
    });
  })
  // One spelling for the code: log_level and log_format, from log.* or the flat keys.
  .transform(({ log, ...config }) => ({
    ...config,
    log_level: log?.level ?? config.log_level ?? 'info',
    log_format: log?.format ?? config.log_format ?? 'json',
  }));

export type GatewayConfig = z.output<typeof configSchema>;
export type { DeviceConfig, ModbusTagConfig, ModbusTable, Endian, TagType };
export type { KafkaConfig } from '../../uplink/kafka/config.js';
