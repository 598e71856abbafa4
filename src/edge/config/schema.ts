// One zod schema is the config's validation, its documentation and its unknown-key rejection.
import cron from 'node-cron';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { hostPort } from './host-port.js';
import { parseSize } from './size.js';
import { brokerSecurityKeys, brokerSecurityProblems, kafkaSecurityKeys, nodeUserProblems } from './security.js';

// Sparkplug ids end up in MQTT topics: [tck-id-topic-structure-namespace-valid-group-id]
// [tck-id-topic-structure-namespace-valid-edge-node-id] [tck-id-topic-structure-namespace-valid-device-id]
const sparkplugId = z
  .string()
  .min(1)
  .regex(/^[^+/#]+$/, 'must not contain "+", "/" or "#" (it becomes part of an MQTT topic)');

const duration = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (examples: 500ms, 1s, 5m, 2h)` });
      return z.NEVER;
    }
    return ms;
  });

const size = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (examples: 64MiB, 500MB, 2GiB)` });
      return z.NEVER;
    }
    return bytes;
  });

const cronExpression = z
  .string()
  .refine((v) => cron.validate(v), { message: 'not a cron expression (minute hour day month weekday, e.g. "30 3 * * *")' });

export const TAG_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export const MODBUS_TABLES = ['coil', 'discrete', 'input', 'holding'] as const;

const modbusTag = z
  .strictObject({
    name: z.string().min(1),
    table: z.enum(MODBUS_TABLES),
    address: z.number().int().min(0).max(65535),
    type: z.enum(TAG_TYPES).default('uint16'),
    scale: z.number().default(1),
    offset: z.number().default(0),
    writable: z.boolean().default(false),
  })
  .superRefine((tag, ctx) => {
    const bitTable = tag.table === 'coil' || tag.table === 'discrete';
    if (bitTable && tag.type !== 'bool') {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `table "${tag.table}" holds single bits: type must be bool` });
    }
    if (!bitTable && tag.type === 'bool') {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `type bool needs table coil or discrete` });
    }
    if (tag.writable && (tag.table === 'discrete' || tag.table === 'input')) {
      ctx.addIssue({ code: 'custom', path: ['writable'], message: `table "${tag.table}" is read-only in Modbus` });
    }
  });

const modbusTcpDevice = z.strictObject({
  name: sparkplugId,
  driver: z.literal('modbus-tcp'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(502),
  unit_id: z.number().int().min(0).max(255).default(1),
  poll: duration.default(1000),
  timeout: duration.default(2000),
  max_gap: z.number().int().min(0).max(100).default(8),
  tags: z.array(modbusTag).min(1),
});

export const deviceSchema = z.discriminatedUnion('driver', [modbusTcpDevice]);

export const configSchema = z
  .strictObject({
    site: z.strictObject({ group: sparkplugId, node: sparkplugId }),
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
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
        // Most metrics held in memory while the MQTT session is down, published as historical after the next birth.
        hold_max: z.number().int().min(0).default(100_000),
      })
      .default({ aliases: false, hold_max: 100_000 }),
    devices: z.array(deviceSchema).default([]),
    // The journal: how durable, how large, and what gives when it is full.
    buffer: z
      .strictObject({
        sync: z.enum(['normal', 'full']).default('normal'),
        max_bytes: size.default(1024 ** 3),
        max_age: duration.default(7 * 86_400_000),
        when_full: z.enum(['drop_oldest', 'drop_newest']).default('drop_oldest'),
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
        sync: 'normal', max_bytes: 1024 ** 3, max_age: 7 * 86_400_000, when_full: 'drop_oldest', replay: 'live_first',
        housekeeping: { prune: '* * * * *', checkpoint: '*/5 * * * *', vacuum: '30 3 * * *' },
      }),
    uplink: z
      .strictObject({
        kafka: z
          .strictObject({
            brokers: z.array(z.string().min(1)).min(1),
            topic: z.string().min(1).default('iot.telemetry.raw'),
            client_id: z.string().min(1).optional(),
            batch_size: z.number().int().min(1).max(100_000).default(1000),
            ...kafkaSecurityKeys,
          })
          .optional(),
      })
      .default({}),
    http: z
      .strictObject({
        listen: hostPort('127.0.0.1').default({ host: '127.0.0.1', port: 8080 }),
      })
      .default({ listen: { host: '127.0.0.1', port: 8080 } }),
  })
  .superRefine((config, ctx) => {
    nodeUserProblems(config, ctx);
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
  });

export type GatewayConfig = z.output<typeof configSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;
export type ModbusTagConfig = z.output<typeof modbusTag>;
export type TagType = (typeof TAG_TYPES)[number];
export type KafkaConfig = NonNullable<GatewayConfig['uplink']['kafka']>;
