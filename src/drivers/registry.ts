// The driver registry: one entry per `driver:` value the config schema accepts, checked by the compiler.
import type { DeviceConfig } from '../edge/config/schema.js';
import { createModbusRtuDriver } from './modbus/rtu.js';
import { createModbusTcpDriver } from './modbus/tcp.js';
import { createMqttJsonDriver } from './mqtt-json/driver.js';
import type { Driver, DriverContext } from './types.js';

export type DriverName = DeviceConfig['driver'];
export type DriverFactory<K extends DriverName = DriverName> = (device: Extract<DeviceConfig, { driver: K }>, ctx: DriverContext) => Driver;

export const drivers = {
  'modbus-tcp': createModbusTcpDriver,
  'modbus-rtu': createModbusRtuDriver,
  'mqtt-json': createMqttJsonDriver,
} satisfies { [K in DriverName]: DriverFactory<K> };

export function createDriver(device: DeviceConfig, ctx: DriverContext): Driver {
  // Indexing by a union loses the link between device.driver and the device type; the map's type above
  // is what guarantees each factory gets its own kind of device.
  const factory = drivers[device.driver] as DriverFactory | undefined;
  if (!factory) throw new Error(`configuration invalid for device "${device.name}": unknown driver "${String(device.driver)}"`);
  return factory(device, ctx);
}
