// The config keys of a Modbus device (TCP and RTU) and its tags: the driver's part of gateway.yaml, composed into
// the config schema through src/drivers/registry.ts.
import { z } from 'zod';
import { durationSchema as duration } from '../config/duration.js';
import { sparkplugId, TAG_TYPES } from '../config/keys.js';
import { pollKeys } from '../config/poll-keys.js';
import { deviceTagModelKeys, tagModelKeys } from '../config/tag-model-keys.js';
import { MODBUS_TABLES, parseRegisterNumber, type ModbusTable } from './register-notation.js';

export { MODBUS_TABLES };

// Modbus fixes big-endian bytes inside a register and nothing else: vendors differ in both orders.
const endianness = z.enum(['big', 'little']);

const modbusTag = z
  .strictObject({
    name: z.string().min(1),
    // Either the manual's 1-based number (40001 = holding 0) or table + zero-based address.
    register: z.union([z.number(), z.string()]).optional(),
    table: z.enum(MODBUS_TABLES).optional(),
    address: z.number().int().min(0).max(65535).optional(),
    bit: z.number().int().min(0, 'bit is 0 (least significant) to 15').max(15, 'bit is 0 (least significant) to 15').optional(),
    type: z.enum(TAG_TYPES).optional(),
    length: z.number().int().min(1).max(125).optional(),
    byte_order: endianness.optional(),
    word_order: endianness.optional(),
    scale: z.number().default(1),
    offset: z.number().default(0),
    writable: z.boolean().default(false),
    // The engineering unit (°C, bar, kWh): the birth's engUnit property, and "unit" in the Kafka record's birth.
    unit: z.string().min(1).optional(),
    ...tagModelKeys,
  })
  .transform((raw, ctx) => {
    const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
    const { register, table: givenTable, address: givenAddress, ...rest } = raw;
    let table = givenTable;
    let address = givenAddress;
    if (register !== undefined) {
      if (table !== undefined || address !== undefined) {
        issue('register', 'give either register (1-based, e.g. 40001) or table and address (0-based), not both');
      }
      const ref = parseRegisterNumber(register);
      if (typeof ref === 'string') issue('register', ref);
      else ({ table, address } = ref);
    } else {
      if (table === undefined) issue('table', 'required key "table" is missing (or give register: 40001-style)');
      if (address === undefined) issue('address', 'required key "address" is missing');
    }
    const bitTable = table === 'coil' || table === 'discrete';
    const type = raw.type ?? (bitTable || raw.bit !== undefined ? 'bool' : 'uint16');
    if (bitTable && type !== 'bool') issue('type', `table "${table}" holds single bits: type must be bool`);
    if (raw.bit !== undefined) {
      if (bitTable) issue('bit', `bit picks one bit of a holding or input register; a ${table} is a single bit already`);
      else if (type !== 'bool') issue('bit', 'bit needs type bool');
    } else if (!bitTable && type === 'bool' && table !== undefined) {
      issue('type', 'type bool needs table coil or discrete, or bit: 0..15 of a register');
    }
    if (type === 'string' && raw.length === undefined) issue('length', 'type string needs length: its size in registers (2 characters each)');
    if (type !== 'string' && raw.length !== undefined) issue('length', 'length applies to type string only');
    if ((type === 'bool' || type === 'string') && (raw.scale !== 1 || raw.offset !== 0)) {
      issue(raw.scale !== 1 ? 'scale' : 'offset', `scale and offset apply to numbers, not to type ${type}`);
    }
    if (raw.writable && (table === 'discrete' || table === 'input')) issue('writable', `table "${table}" is read-only in Modbus`);
    return { ...rest, table: table ?? 'holding', address: address ?? 0, type };
  });

// What every Modbus device has, whatever carries its frames.
const modbusDeviceKeys = {
  name: sparkplugId,
  ...pollKeys,
  ...deviceTagModelKeys,
  request_timeout: duration.optional(),
  max_gap: z.number().int().min(0).max(100).default(8),
  byte_order: endianness.default('big'),
  word_order: endianness.default('big'),
  tags: z.array(modbusTag).min(1),
};

type Endianness = z.output<typeof endianness>;
type ModbusTagInput = z.output<typeof modbusTag>;
/** A tag as drivers see it: the device's byte and word order filled in. */
type ModbusTagOutput = Omit<ModbusTagInput, 'byte_order' | 'word_order'> & { byte_order: Endianness; word_order: Endianness };

/** Per-device defaults reach every tag, so that a driver reads one complete tag config. */
function withModbusDefaults<D extends { timeout: number; request_timeout?: number | undefined; byte_order: Endianness; word_order: Endianness; tags: ModbusTagInput[] }>(
  device: D,
  ctx: z.RefinementCtx,
): Omit<D, 'tags' | 'request_timeout'> & { request_timeout: number; tags: ModbusTagOutput[] } {
  // A request never gets more than the whole poll; 1 s is plenty for a healthy device and keeps a dead unit on a
  // shared bus from eating its neighbours' poll time.
  const requestTimeout = device.request_timeout ?? Math.min(device.timeout, 1000);
  if (requestTimeout > device.timeout) {
    ctx.addIssue({ code: 'custom', path: ['request_timeout'], message: `request_timeout (${requestTimeout} ms) is longer than timeout (${device.timeout} ms), the bound on a whole poll` });
  }
  const tags = device.tags.map((t) => ({ ...t, byte_order: t.byte_order ?? device.byte_order, word_order: t.word_order ?? device.word_order }));
  return { ...device, request_timeout: requestTimeout, tags };
}

const pause = z.union([z.literal(0), duration]);

export const modbusTcpDevice = z
  .strictObject({
    ...modbusDeviceKeys,
    driver: z.literal('modbus-tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(502),
    unit_id: z.number().int().min(0).max(255).default(1),
    pause: pause.default(0),
  })
  .transform(withModbusDefaults);

export const modbusRtuDevice = z
  .strictObject({
    ...modbusDeviceKeys,
    driver: z.literal('modbus-rtu'),
    port: z.string().min(1),
    baud: z.number().int().min(300).max(4_000_000).default(9600),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    data_bits: z.union([z.literal(7), z.literal(8)]).default(8),
    stop_bits: z.union([z.literal(1), z.literal(2)]).default(1),
    // 0 is broadcast on a serial line: nobody answers it.
    unit_id: z.number().int().min(1).max(247).default(1),
    pause: pause.default(0),
  })
  .transform(withModbusDefaults);

export type ModbusTcpDeviceConfig = z.output<typeof modbusTcpDevice>;
export type ModbusRtuDeviceConfig = z.output<typeof modbusRtuDevice>;
export type ModbusTagConfig = ModbusTagOutput;
export type { ModbusTable };
export type Endian = Endianness;
