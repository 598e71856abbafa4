// The driver registry: the one list of drivers. Each entry is a driver's config schema (its part of gateway.yaml),
// its factory and its describe() for `edge-gateway once`; the config schema's device union is composed from it.
import { z } from 'zod';
import { modbusRtuDevice, modbusTcpDevice } from './modbus/config.js';
import { describeModbusTag } from './modbus/describe.js';
import { createModbusRtuDriver } from './modbus/rtu.js';
import { createModbusTcpDriver } from './modbus/tcp.js';
import { mqttJsonDevice } from './mqtt-json/config.js';
import { describeMqttJsonTag } from './mqtt-json/describe.js';
import { createMqttJsonDriver } from './mqtt-json/driver.js';
import type { Driver, DriverContext, Sample, TagDescription } from './types.js';

interface RegistryEntry<S extends z.ZodType> {
  schema: S;
  create(device: z.output<S>, ctx: DriverContext): Driver;
  describe(device: z.output<S>, sample: Sample): TagDescription;
}

const entry = <S extends z.ZodType>(e: RegistryEntry<S>) => e;

export const driverRegistry = {
  'modbus-tcp': entry({ schema: modbusTcpDevice, create: createModbusTcpDriver, describe: describeModbusTag }),
  'modbus-rtu': entry({ schema: modbusRtuDevice, create: createModbusRtuDriver, describe: describeModbusTag }),
  'mqtt-json': entry({ schema: mqttJsonDevice, create: createMqttJsonDriver, describe: describeMqttJsonTag }),
};

type Registry = typeof driverRegistry;
export type DriverName = keyof Registry;
/** A configured device of any driver, as its driver's schema outputs it. */
export type DeviceConfig = { [K in DriverName]: z.output<Registry[K]['schema']> }[DriverName];

/** The config schema's `devices[]` item: one of the registry's schemas, chosen by `driver:`. */
export function deviceSchemaOf(registry: Registry) {
  const [first, ...rest] = Object.values(registry).map((e) => e.schema);
  return z.discriminatedUnion('driver', [first!, ...rest] as [Registry[DriverName]['schema'], ...Registry[DriverName]['schema'][]]) as unknown as z.ZodType<DeviceConfig, z.input<Registry[DriverName]['schema']>>;
}

function entryOf(device: DeviceConfig): RegistryEntry<z.ZodType<DeviceConfig>> {
  // Indexing by a union loses the link between device.driver and the device type; the registry's entries are
  // typed one by one above, which is what guarantees each gets its own kind of device.
  const e = driverRegistry[device.driver] as RegistryEntry<z.ZodType<DeviceConfig>> | undefined;
  if (!e) throw new Error(`configuration invalid for device "${device.name}": unknown driver "${String(device.driver)}"`);
  return e;
}

export function createDriver(device: DeviceConfig, ctx: DriverContext): Driver {
  return entryOf(device).create(device, ctx);
}

/** Where a sample's tag lives on its device, in the driver's own terms. */
export function describeTag(device: DeviceConfig, sample: Sample): TagDescription {
  return entryOf(device).describe(device, sample);
}
