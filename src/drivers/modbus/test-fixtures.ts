// Tag configs for the driver's tests (not part of the build: see tsconfig.json).
import type { ModbusTagConfig } from './config.js';

/** A tag as the config schema yields it, with its defaults; bit tables default to bool, registers to uint16. */
export const tag = (
  name: string,
  table: ModbusTagConfig['table'],
  address: number,
  type: ModbusTagConfig['type'] = table === 'coil' || table === 'discrete' ? 'bool' : 'uint16',
  extra: Partial<ModbusTagConfig> = {},
): ModbusTagConfig => ({ name, table, address, type, scale: 1, offset: 0, writable: false, byte_order: 'big', word_order: 'big', ...extra });
