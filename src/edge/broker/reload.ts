// What a reload (SIGHUP, `systemctl reload`) changes on the site broker. Users, passwords, rights, anonymous access,
// limits and the TLS certificate apply in place; what would move a listening socket waits for the next restart,
// because closing it would drop every HMI and SCADA connection. Pure: broker/server.ts and the gateway's reload act
// on it; which connected clients may stay is auth.ts's `reviewClient`.
import type { DisconnectReason } from './auth.js';
import type { GatewayConfig } from '../config/schema.js';

type BrokerSection = GatewayConfig['broker'];

/** Why a client was disconnected, for the log line. */
export function disconnectMessage(user: string | null, reason: DisconnectReason): string {
  const who = user === null ? 'an anonymous client' : `user "${user}"`;
  const why = reason === 'user_removed' ? `"${user}" is no longer in broker.users`
    : reason === 'password_changed' ? `the password of "${user}" changed`
    : 'anonymous clients are no longer allowed';
  return `MQTT client of ${who} disconnected by the reload: ${why}.`;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The `broker` keys whose change needs a restart of the broker: its listening addresses, adding or removing the
 * TLS listener or its demand for client certificates (`ca_file` given or not), and where the broker runs.
 */
export function brokerRestartKeys(from: BrokerSection, to: BrokerSection): string[] {
  const keys: string[] = [];
  if (!same(from.listen, to.listen)) keys.push('broker.listen');
  if (from.embedded !== to.embedded) keys.push('broker.embedded');
  if ((from.tls === undefined) !== (to.tls === undefined)) keys.push('broker.tls');
  else if (from.tls && to.tls) {
    if (!same(from.tls.listen, to.tls.listen)) keys.push('broker.tls.listen');
    if ((from.tls.ca_file === undefined) !== (to.tls.ca_file === undefined)) keys.push('broker.tls.ca_file');
  }
  return keys;
}

/**
 * The `broker` section that runs after a reload from `from` to `to`: all of `to` except what needs a restart, which
 * keeps its running value. `reloadTls`: the TLS listener takes `to`'s certificate, key and CA (read from the files
 * again, even under unchanged names); otherwise it keeps the ones it serves.
 */
export function brokerInPlace(from: BrokerSection, to: BrokerSection): { running: BrokerSection; reloadTls: boolean } {
  const reloadTls = from.tls !== undefined && to.tls !== undefined && (from.tls.ca_file === undefined) === (to.tls.ca_file === undefined);
  const tls = reloadTls ? { ...to.tls!, listen: from.tls!.listen } : from.tls;
  return { running: { ...to, listen: from.listen, embedded: from.embedded, tls }, reloadTls };
}

/** Did the part of the section that applies in place change (users, rights, anonymous, limits, TLS files)? */
export function brokerSecurityChanged(from: BrokerSection, to: BrokerSection): boolean {
  return !same(brokerInPlace(from, from).running, brokerInPlace(from, to).running);
}

/** The log line for a `broker` key that waits for the restart. */
export function brokerRestartMessage(key: string): string {
  const why: Record<string, string> = {
    'broker.listen': 'the broker keeps listening where it does, as moving it would drop every MQTT client',
    'broker.tls.listen': 'the TLS listener stays where it is, as moving it would drop every TLS client',
    'broker.tls': 'a TLS listener is added or removed only by a restart',
    'broker.tls.ca_file': 'whether TLS clients must show a certificate changes only with a restart',
    'broker.embedded': 'where the broker runs changes only with a restart',
    'broker.node_user': 'the edge node logs in to the broker with the user it started with',
  };
  return `Reload: "${key}" changed; it takes effect at the next restart (the running value stays): ${why[key] ?? 'see the README'}.`;
}
