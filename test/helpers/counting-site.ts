// Gateways that each poll a simulated PLC whose counter moves every 100 ms and forward to Kafka with the uplink
// keys a test gives: for the tests of how the uplink logs in (SASL, TLS, OAUTHBEARER).
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../../scripts/sim-plc.mjs';
import { GatewayProcess } from './gateway.js';
import { freePort } from './net.js';

export interface CountingSites {
  gateways: GatewayProcess[];
  /** A started gateway forwarding to `bootstrap`/`topic` with `kafkaYaml` (keys of uplink.kafka, one per line). */
  gateway(bootstrap: string, topic: string, kafkaYaml: string[]): Promise<GatewayProcess>;
  /** Stops every gateway (orderly) and simulator. */
  close(): Promise<void>;
}

export function countingSites(): CountingSites {
  const gateways: GatewayProcess[] = [];
  const plcs: Array<{ close(): Promise<void> }> = [];
  const timers: NodeJS.Timeout[] = [];
  return {
    gateways,
    async gateway(bootstrap, topic, kafkaYaml) {
      const plc = await startSimulatedPlc({ port: await freePort() });
      plcs.push(plc);
      let n = 0;
      timers.push(setInterval(() => plc.setHolding(0, [++n & 0xffff]), 100));
      const g = await GatewayProcess.create({
        extraYaml: [
          'devices:',
          `  - { name: plc-1, driver: modbus-tcp, host: 127.0.0.1, port: ${plc.port}, poll: 200ms, timeout: 1s, tags: [{ name: count, table: holding, address: 0, type: uint16 }] }`,
          'uplink:',
          '  kafka:',
          `    brokers: [${bootstrap}]`,
          `    topic: ${topic}`,
          ...kafkaYaml.map((l) => `    ${l}`),
        ].join('\n'),
      });
      gateways.push(g);
      await g.start();
      return g;
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const g of gateways) await g.stop();
      for (const p of plcs) await p.close();
    },
  };
}
