// Modbus TCP: a PLC, or a gateway to an RS-485 bus. Devices with the same host and port and different unit_id
// share one connection (a gateway serves its bus one request at a time anyway); devices naming the same unit of
// the same host each have their own connection, polled in parallel as before.
import type { ModbusTcpDeviceConfig } from './config.js';
import type { Driver, DriverContext } from '../types.js';
import type { Endpoint } from './bus.js';
import { createModbusDriver } from './device.js';

export type ModbusTcpDevice = ModbusTcpDeviceConfig;

export function tcpEndpoint(device: Pick<ModbusTcpDevice, 'host' | 'port'>): Endpoint {
  return {
    key: `tcp:${device.host.toLowerCase()}:${device.port}`,
    label: `${device.host}:${device.port}`,
    settings: '',
    silenceMs: 0,
    dropWhenAllUnitsTimeOut: true,
    connectionPerUnit: true,
    closedMessage: 'the device closed the connection',
    open: (client, timeoutMs) => client.connectTCP(device.host, { port: device.port, timeout: timeoutMs }),
  };
}

export function createModbusTcpDriver(device: ModbusTcpDevice, ctx: DriverContext): Driver {
  return createModbusDriver(device, tcpEndpoint(device), ctx);
}
