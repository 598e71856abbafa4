// `edge-gateway broker`: the local MQTT broker alone, on broker.listen, as the edge-gateway-broker unit starts it
// for a site whose broker lives in its own process; a reload applies users, rights, limits and the certificate
// in place.
import { daemon } from '../service/daemon.js';

/** Runs the broker alone until it is stopped; exit 2 when the config is not valid, 1 when the broker cannot start. */
export function brokerOnly(file: string): Promise<number> {
  return daemon(file, 'broker', async (config, log) => {
    const { startBroker } = await import('../broker/server.js');
    const { brokerInPlace, brokerRestartKeys, brokerRestartMessage } = await import('../broker/reload.js');
    // The edge node's client id is kept for broker.node_user: no other client can end the node's session.
    const broker = await startBroker(config.broker.listen, log, { security: config.broker, node: { group: config.site.group, node: config.site.node } });
    let current = config.broker;
    let disconnected = 0;
    // Only the event loop is watched: a blocked loop sends no WATCHDOG=1.
    return {
      stop: () => broker.close(),
      // Users, passwords, rights, limits and the TLS certificate apply in place; clients keep their connections
      // unless their user or password went. Moving a listener waits for the next restart.
      reload: async (next) => {
        const inPlace = brokerInPlace(current, next.broker);
        const outcome = broker.reload(inPlace.running, { reloadTls: inPlace.reloadTls });
        const restartNeeded = brokerRestartKeys(current, next.broker).filter((k) => k !== 'broker.embedded');
        for (const key of restartNeeded) log.warn({ key }, brokerRestartMessage(key));
        // The log's format is fixed when the process starts (its output stream); its level applies at once.
        if (next.log_format !== config.log_format) {
          restartNeeded.push('log.format');
          log.warn({ key: 'log.format' }, 'Reload: "log.format" changed; it takes effect at the next restart (the running value stays).');
        }
        log.level = next.log_level;
        current = inPlace.running;
        disconnected += outcome.disconnected.length;
        log.info({ users: current.users?.length ?? 0, disconnected: outcome.disconnected.length, clients: broker.clients(), ...(outcome.certificate ? { certificate: outcome.certificate } : {}), restartNeeded }, 'Reloaded the broker configuration.');
      },
      status: () => {
        const s = broker.stats();
        const closed = Object.values(s.closed).reduce((a, b) => a + b, s.connectionsDropped);
        return `MQTT broker on ${broker.url}; ${s.clients} clients, ${s.connecting} logging in${disconnected > 0 ? `; ${disconnected} disconnected by reloads` : ''}`
          + `${s.refused.reserved_client_id > 0 ? `; ${s.refused.reserved_client_id} refused the edge node's client id` : ''}${closed > 0 ? `; ${closed} connections closed by the limits` : ''}`;
      },
    };
  });
}
