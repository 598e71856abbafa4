// Modbus RTU on a serial line (RS-485, RS-232) through modbus-serial's buffered RTU port. Devices with the same
// `port` share the line: polled in turn, one request at a time, with the quiet time the line needs.
import type { ModbusRtuDeviceConfig } from './config.js';
import type { Driver, DriverContext } from '../types.js';
import type { Client, Endpoint } from './bus.js';
import { createModbusDriver } from './device.js';

export type ModbusRtuDevice = ModbusRtuDeviceConfig;

type Framing = Pick<ModbusRtuDevice, 'baud' | 'parity' | 'data_bits' | 'stop_bits'>;

/**
 * The silent interval of the Modbus serial line spec: 3.5 character times between frames, fixed at 1.75 ms
 * above 19200 baud. A character is a start bit, the data bits, the parity bit if any and the stop bits.
 */
export function silenceMs(framing: Framing): number {
  if (framing.baud > 19200) return 2;
  const bits = 1 + framing.data_bits + (framing.parity === 'none' ? 0 : 1) + framing.stop_bits;
  return Math.ceil((3.5 * bits * 1000) / framing.baud);
}

export function describeFraming(f: Framing): string {
  return `${f.baud} baud ${f.data_bits}${f.parity[0]!.toUpperCase()}${f.stop_bits}`;
}

/** Stray bytes (an answer that came after its request timed out) would be taken for the next answer. */
function forgetReceived(client: Client): void {
  const port = (client as unknown as { _port?: { _buffer?: unknown } })._port;
  if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
}

export function rtuEndpoint(device: Pick<ModbusRtuDevice, 'port'> & Framing): Endpoint {
  return {
    key: `rtu:${device.port}`,
    label: device.port,
    settings: describeFraming(device),
    silenceMs: silenceMs(device),
    dropWhenAllUnitsTimeOut: false,
    connectionPerUnit: false,
    closedMessage: 'the serial port closed (USB adapter unplugged, or the port went away)',
    beforeRequest: forgetReceived,
    open: (client) =>
      client.connectRTUBuffered(device.port, { baudRate: device.baud, parity: device.parity, dataBits: device.data_bits, stopBits: device.stop_bits }),
  };
}

export function createModbusRtuDriver(device: ModbusRtuDevice, ctx: DriverContext): Driver {
  return createModbusDriver(device, rtuEndpoint(device), ctx);
}
