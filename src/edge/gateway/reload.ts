// A reload (SIGHUP, `systemctl reload`) of a running gateway: what a new config changes (`planReload`, pure), and
// applying it with the least disruption: only changed devices restart, the broker applies users and certificates
// in place, the uplink reconnects only when its keys changed, and what needs a restart is logged and waits.
import type { Logger } from 'pino';
import type { Journal } from '../../uplink/journal/journal.js';
import type { LocalBroker } from '../broker/server.js';
import { brokerInPlace, brokerRestartKeys, brokerRestartMessage, brokerSecurityChanged } from '../broker/reload.js';
import type { GatewayConfig } from '../config/schema.js';
import type { AliasTable } from '../sparkplug/aliases.js';
import type { EdgeNode } from '../sparkplug/edge-node.js';
import { tagDefsByDevice, type Devices } from './devices.js';

export interface ReloadOutcome {
  added: string[];
  removed: string[];
  /** Devices whose config changed: only their poll loops restart. */
  changed: string[];
  /** The uplink reconnects (its config or the replay settings changed). */
  uplink: boolean;
  /**
   * The broker's users, rights, anonymous access, limits or TLS files changed; the embedded broker applies them in
   * place (it reads its password files and certificates again at every reload anyway).
   */
  broker: boolean;
  housekeeping: boolean;
  /** buffer.max_bytes changed: the journal takes the new bound at once. */
  journalBound: boolean;
  logLevel: boolean;
  /** Keys whose new value needs a restart (the journal's sync and when_full, the broker's listeners, the HTTP listener, the Sparkplug identity, log.format). */
  restartNeeded: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What a reload from `from` to `to` changes. Pure, so that the rules are tested without processes. */
export function planReload(from: GatewayConfig, to: GatewayConfig): ReloadOutcome {
  const before = new Map(from.devices.map((d) => [d.name, d]));
  const after = new Map(to.devices.map((d) => [d.name, d]));
  const restartNeeded: string[] = [];
  // log.format: the log's output stream is made once, when the process starts (log.level applies at once).
  for (const key of ['site', 'data_dir', 'http', 'sparkplug', 'log_format'] as const) if (!same(from[key], to[key])) restartNeeded.push(key === 'log_format' ? 'log.format' : key);
  // With the broker in its own process, its TLS listener is that process's business (it reloads on its own).
  restartNeeded.push(...brokerRestartKeys(from.broker, to.broker).filter((k) => from.broker.embedded || !k.startsWith('broker.tls')));
  // The edge node logs in to a broker of its own process as broker.node_user, read at start.
  if (!from.broker.embedded && from.broker.node_user !== to.broker.node_user) restartNeeded.push('broker.node_user');
  for (const key of ['sync', 'when_full'] as const) if (!same(from.buffer[key], to.buffer[key])) restartNeeded.push(`buffer.${key}`);
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after.keys()].filter((n) => before.has(n) && !same(before.get(n), after.get(n))),
    uplink: !same(from.uplink, to.uplink) || from.buffer.replay !== to.buffer.replay || from.buffer.replay_rate !== to.buffer.replay_rate,
    broker: brokerSecurityChanged(from.broker, to.broker),
    housekeeping: !same(from.buffer.housekeeping, to.buffer.housekeeping) || from.buffer.max_age !== to.buffer.max_age,
    journalBound: !same(from.buffer.max_bytes, to.buffer.max_bytes),
    logLevel: from.log_level !== to.log_level,
    restartNeeded,
  };
}

/** The running parts a reload acts on. */
export interface ReloadParts {
  log: Logger;
  /** The config in force, and its replacement once the reload applied. */
  current(): GatewayConfig;
  settle(next: GatewayConfig): void;
  stopping(): boolean;
  broker: LocalBroker | undefined;
  devices: Devices;
  edge: EdgeNode;
  journal: Journal;
  aliasesFor(c: GatewayConfig): AliasTable | undefined;
  restartUplink(c: GatewayConfig): Promise<void>;
  restartHousekeeping(c: GatewayConfig): void;
  /** Measures buffer.max_bytes again (a share of the disk) and gives the journal the result. */
  applyBound(): void;
}

/** The gateway's `reload`: one at a time, never during a stop. */
export function reloader(parts: ReloadParts): (next: GatewayConfig) => Promise<ReloadOutcome> {
  let reloading: Promise<unknown> = Promise.resolve();
  return (next) => {
    const run = reloading.then(() => applyReload(parts, next));
    reloading = run.catch(() => undefined);
    return run;
  };
}

async function applyReload(p: ReloadParts, next: GatewayConfig): Promise<ReloadOutcome> {
  const { log, broker } = p;
  const current = p.current();
  if (p.stopping()) return { ...planReload(current, current), restartNeeded: ['the gateway is stopping'] };
  const plan = planReload(current, next);
  // The broker first: its passwords and certificates are read again, and one that cannot be read refuses the
  // whole reload (a ConfigValueError) before anything changed. The edge node keeps the login it started with.
  const inPlace = brokerInPlace(current.broker, next.broker);
  const brokerOutcome = broker?.reload(inPlace.running, { reloadTls: inPlace.reloadTls });
  if (!broker && plan.broker) log.info('Reload: the broker section changed; the broker in its own process applies it when it is reloaded itself (systemctl reload edge-gateway-broker).');
  for (const key of plan.restartNeeded) {
    if (key.startsWith('broker.')) log.warn({ key }, brokerRestartMessage(key));
    else log.warn({ key }, `Reload: "${key}" changed; it takes effect at the next restart (the running value stays).`);
  }
  if (plan.logLevel) log.level = next.log_level;
  // The node's view of its devices first, so that a new device's birth and commands resolve.
  const kept: GatewayConfig = {
    ...current, devices: next.devices, uplink: next.uplink, log_level: next.log_level,
    buffer: { ...current.buffer, replay: next.buffer.replay, replay_rate: next.buffer.replay_rate, max_age: next.buffer.max_age, max_bytes: next.buffer.max_bytes, housekeeping: next.buffer.housekeeping },
    broker: { ...inPlace.running, node_user: current.broker.embedded ? inPlace.running.node_user : current.broker.node_user },
  };
  for (const name of [...plan.removed, ...plan.changed]) await p.devices.stop(name);
  p.edge.reconfigure(tagDefsByDevice(next.devices), p.aliasesFor(kept));
  for (const device of next.devices) if (plan.added.includes(device.name) || plan.changed.includes(device.name)) p.devices.start(device);
  // The journal keeps every record the old uplink had not delivered; the new one carries on from there.
  if (plan.uplink) await p.restartUplink(kept);
  if (plan.housekeeping) p.restartHousekeeping(next);
  p.settle(kept);
  // The new bound applies from the next commit; a smaller one drops records as buffer.when_full says.
  if (plan.journalBound) p.applyBound();
  p.journal.setCommitInterval(next.buffer.commit_interval);
  const brokerSummary = brokerOutcome && { disconnected: brokerOutcome.disconnected.length, ...(brokerOutcome.certificate ? { certificate: brokerOutcome.certificate } : {}) };
  log.info({ added: plan.added, removed: plan.removed, restarted: plan.changed, uplink: plan.uplink, broker: plan.broker, journalBound: plan.journalBound, ...(brokerSummary ? { brokerReload: brokerSummary } : {}), restartNeeded: plan.restartNeeded }, 'Reloaded the config.');
  return plan;
}
