// Where a Modbus tag lives, as a technician finds it in the PLC's manual: table, address and register number.
import type { Sample, TagDescription } from '../types.js';
import { tagWidth } from './codec.js';
import type { ModbusTcpDeviceConfig, ModbusRtuDeviceConfig } from './config.js';
import { formatRegisterNumber } from './register-notation.js';

export function describeModbusTag(device: ModbusTcpDeviceConfig | ModbusRtuDeviceConfig, sample: Sample): TagDescription {
  const tag = device.tags.find((t) => t.name === sample.tag);
  if (!tag) return { fields: {}, where: '' };
  const fields: TagDescription['fields'] = { table: tag.table, address: tag.address, register: formatRegisterNumber(tag.table, tag.address) };
  if (tag.bit !== undefined) fields.bit = tag.bit;
  const width = tag.table === 'holding' || tag.table === 'input' ? tagWidth(tag) : 1;
  if (tag.table === 'holding' || tag.table === 'input') fields.registers = width;
  const range = tag.bit === undefined && width > 1;
  const span = range ? `${tag.address}-${tag.address + width - 1}` : String(tag.address);
  const numbers = range ? `${fields.register}-${formatRegisterNumber(tag.table, tag.address + width - 1)}` : fields.register;
  return { fields, where: `${tag.table} ${span}${tag.bit === undefined ? '' : ` bit ${tag.bit}`} (${numbers})` };
}
