// `edge-gateway run`: the gateway itself, as the edge-gateway systemd unit starts it: polling, the journal, the
// uplink, the Sparkplug edge node, the status page and (when embedded) the local MQTT broker.
import type { GatewayStatus } from '../gateway/status.js';
import { daemon } from '../service/daemon.js';
import { stuckReason } from '../service/watchdog.js';

/** Runs the gateway until it is stopped; exit 2 when the config is not valid, 1 when the gateway cannot start. */
export function run(file: string): Promise<number> {
  return daemon(file, 'gateway', async (config, log, hooks) => {
    const { startGateway } = await import('../gateway/gateway.js');
    const gateway = await startGateway(config, log, hooks);
    return {
      stop: () => gateway.stop(),
      reload: async (next) => void (await gateway.reload(next)),
      stuck: (now, intervalMs) => stuckReason(gateway.progress(), now, intervalMs),
      status: () => gatewayStatusLine(gateway.status()),
    };
  });
}

/** The one line `systemctl status` shows. */
function gatewayStatusLine(s: GatewayStatus): string {
  const up = s.devices.filter((d) => d.state === 'up').length;
  return `${up}/${s.devices.length} devices answering; uplink ${s.uplink.state}; Sparkplug ${s.sparkplug.state}; journal ${s.journal.records} records`;
}
