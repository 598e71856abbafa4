// The config keys of an mqtt-json device: the driver's part of gateway.yaml, composed into the config schema
// through src/drivers/registry.ts.
import { z } from 'zod';
import { durationSchema } from '../config/duration.js';
import { sparkplugId, type TagType } from '../config/keys.js';
import { deviceTagModelKeys, tagModelKeys } from '../config/tag-model-keys.js';
import { parsePath } from './path.js';
import { checkTopicFilter } from './topic.js';

/** The `type:` values an mqtt-json tag accepts: the short names, and the Modbus names for narrower Sparkplug types. */
export const MQTT_JSON_TYPES = {
  bool: 'bool',
  int: 'int64',
  float: 'float64',
  string: 'string',
  int16: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  uint64: 'uint64',
  float32: 'float32',
  float64: 'float64',
} as const satisfies Record<string, TagType>;

const typeNames = Object.keys(MQTT_JSON_TYPES) as [keyof typeof MQTT_JSON_TYPES, ...(keyof typeof MQTT_JSON_TYPES)[]];

const jsonPath = z.string().superRefine((text, ctx) => {
  const parsed = parsePath(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const topicFilter = z.string().superRefine((text, ctx) => {
  const problem = checkTopicFilter(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)}: ${problem}` });
});

/** `mqtt://HOST:PORT` or `HOST:PORT`, as an mqtt:// URL. */
const brokerAddress = z.string().transform((value, ctx) => {
  const m = /^(?:mqtt:\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(value.trim());
  if (!m || Number(m[2]) > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not HOST:PORT or mqtt://HOST:PORT (example: 127.0.0.1:1883)` });
    return z.NEVER;
  }
  return `mqtt://${m[1]}:${m[2]}`;
});

const mqttJsonTag = z
  .strictObject({
    name: z.string().min(1),
    path: jsonPath,
    // Only messages on this topic; without it, every message of the device.
    topic: topicFilter.optional(),
    type: z.enum(typeNames).default('float'),
    scale: z.number().default(1),
    offset: z.number().default(0),
    timestamp_path: jsonPath.optional(),
    writable: z.boolean().optional(),
    // The engineering unit (°C, bar, kWh): the birth's engUnit property, and "unit" in the Kafka record's birth.
    unit: z.string().min(1).optional(),
    ...tagModelKeys,
  })
  .transform((raw, ctx) => {
    const { writable, type, ...rest } = raw;
    if (writable) {
      ctx.addIssue({
        code: 'custom',
        path: ['writable'],
        message: 'mqtt-json tags cannot be written: the driver only listens to what the device publishes (remove writable, or use a Modbus tag)',
      });
    }
    const tagType: TagType = MQTT_JSON_TYPES[type];
    if ((tagType === 'bool' || tagType === 'string') && (raw.scale !== 1 || raw.offset !== 0)) {
      ctx.addIssue({ code: 'custom', path: [raw.scale !== 1 ? 'scale' : 'offset'], message: `scale and offset apply to numbers, not to type ${type}` });
    }
    return { ...rest, type: tagType, writable: false as const };
  });

const shared = { name: sparkplugId, duration: durationSchema };

export const mqttJsonDevice = z
  .strictObject({
    name: shared.name,
    driver: z.literal('mqtt-json'),
    // One filter or a list; wildcards allowed.
    topic: z.union([topicFilter, z.array(topicFilter).min(1)]),
    // Another broker than the gateway's own (broker.listen).
    broker: brokerAddress.optional(),
    // The login on that broker: needed on the gateway's broker when it has broker.users and no anonymous access.
    // The password comes from a file or an environment variable, never from the YAML.
    username: z.string().min(1).optional(),
    password_file: z.string().min(1).optional(),
    password_env: z.string().min(1).optional(),
    poll: shared.duration.default(1000),
    timeout: shared.duration.default(2000),
    // No message for this long: the device is down (DDEATH).
    stale_after: shared.duration.default(60_000),
    // The default for the device's tags.
    timestamp_path: jsonPath.optional(),
    ...deviceTagModelKeys,
    tags: z.array(mqttJsonTag).min(1),
  })
  .superRefine((device, ctx) => {
    if (device.password_file !== undefined && device.password_env !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['password_env'], message: 'give one of password_file and password_env, not both' });
    }
    if (device.username === undefined && (device.password_file ?? device.password_env) !== undefined) {
      ctx.addIssue({ code: 'custom', path: [device.password_file !== undefined ? 'password_file' : 'password_env'], message: 'a password needs a username' });
    }
  })
  .transform((device) => ({
    ...device,
    topic: typeof device.topic === 'string' ? [device.topic] : device.topic,
    tags: device.tags.map((t) => ({ ...t, timestamp_path: t.timestamp_path ?? device.timestamp_path })),
  }));

export type MqttJsonDeviceConfig = z.output<typeof mqttJsonDevice>;
