// A Sparkplug 3.0 primary host application as the tests play it (mqtt.js), and the one-PLC edge nodes they watch
// and command.
import mqtt, { type MqttClient } from 'mqtt';

export const HOST = 'scada-1';
export const STATE = `spBv1.0/STATE/${HOST}`;
export const hostState = (online: boolean, timestamp: number) => JSON.stringify({ online, timestamp });

/** The host on one server: its online STATE (retained); its will is STATE offline with the same timestamp. */
export async function connectHost(port: number, timestamp: number): Promise<MqttClient> {
  const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `${HOST}-${port}-${timestamp}`,
    clean: true,
    reconnectPeriod: 0,
    will: { topic: STATE, payload: Buffer.from(hostState(false, timestamp)), qos: 1, retain: true },
  });
  await host.publishAsync(STATE, hostState(true, timestamp), { qos: 1, retain: true });
  return host;
}

/** A retained STATE written by another client, as a late or replayed message would arrive. */
export async function publishState(port: number, online: boolean, timestamp: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `state-writer-${Date.now()}`, reconnectPeriod: 0 });
  await c.publishAsync(STATE, hostState(online, timestamp), { qos: 1, retain: true });
  await c.endAsync();
}

/** Gateway YAML: the given `sparkplug` settings and one PLC, plc-1, with `level` in holding register 10. */
export function hostedNodeYaml(plcPort: number, sparkplug: string): string {
  return `sparkplug: ${sparkplug}
devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    poll: 200ms
    tags:
      - { name: level, table: holding, address: 10, type: uint16 }
`;
}

/** Gateway YAML: one PLC, plc-1, with a read-only `level` (int16, holding 10) and a writable `setpoint` (uint16, 11). */
export function commandedPlcYaml(plcPort: number): string {
  return `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    poll: 200ms
    tags:
      - { name: level, table: holding, address: 10, type: int16 }
      - { name: setpoint, table: holding, address: 11, type: uint16, writable: true }
`;
}
