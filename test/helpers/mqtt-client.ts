// mqtt.js as a site client that logs in: connected, or refused with the CONNACK code, never retrying on its own.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface MqttLogin {
  client?: MqttClient;
  /** The CONNACK return code of a refusal (4 bad user name or password, 5 not authorized, 3 server unavailable). */
  code?: number;
  error?: string;
}

/**
 * Connects to 127.0.0.1:`port` (`mqtts` over TLS: give `ca`), MQTT 3.1.1, no reconnect: a lost connection stays
 * lost, so a test sees it. `cleanups` receives the client's end.
 */
export function connectMqtt(port: number, options: IClientOptions & { tls?: boolean } = {}, cleanups?: Array<() => unknown>): Promise<MqttLogin> {
  const { tls, ...rest } = options;
  return new Promise((resolve) => {
    const client = mqtt.connect(`${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...rest });
    client.once('connect', () => {
      cleanups?.push(() => client.endAsync(true));
      resolve({ client });
    });
    client.once('error', (err) => {
      client.end(true);
      resolve({ code: (err as { code?: number }).code, error: err.message });
    });
  });
}
