// The site's MQTT broker (aedes), on broker.listen and optionally a TLS listener. Local HMIs and SCADA connect here
// with no cloud at all. Who may connect and what they may do is decided by auth.ts.
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { edgeNodeRights, mayReceive, maySubscribe } from './acl.js';
import { BrokerAccess, loadAccessRules, type BrokerAccessConfig, type BrokerAccessStats, type DisconnectReason, type Identity, type NodeLogin } from './auth.js';
import { disconnectMessage } from './reload.js';
import { readTlsMaterial, type BrokerTlsFiles, type TlsMaterial } from './tls.js';
import { ConnectionGuard, type ConnectionGuardStats } from './connection-guard.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_PACKET_BYTES } from './defaults.js';
import { limitedLog } from './limited-log.js';
import { listenOn } from '../listen.js';
import { edgeNodeClientId } from '../sparkplug/topics.js';

export interface LocalBroker {
  url: string;
  clients(): number;
  stats(): BrokerStats;
  /** False once a listening socket closed (an error, or close()). */
  listening(): boolean;
  /**
   * Applies a new `broker` section in place (see reload.ts for what may change): passwords and, with
   * `reloadTls`, the TLS certificate, key and CA are read from their files again. Throws a ConfigValueError naming
   * the key when one cannot be read, before anything changed. Clients whose user was removed, whose password
   * changed, or that are anonymous when anonymous clients are refused now, are disconnected; the others stay, under
   * their new rights.
   */
  reload(security: BrokerSecurity, opts: { reloadTls: boolean }): BrokerReloadOutcome;
  close(): Promise<void>;
}

export type BrokerSecurity = BrokerAccessConfig & {
  tls?: (BrokerTlsFiles & { listen: { host: string; port: number } }) | undefined;
  /** Largest packet a logged-in client may send, in bytes. */
  max_packet_bytes?: number;
  /** Milliseconds a new connection has to log in. */
  connect_timeout?: number;
};


export interface BrokerReloadOutcome {
  disconnected: Array<{ user: string | null; remote: string; reason: DisconnectReason }>;
  /** The certificate the TLS listener serves from now on, when it was read again. */
  certificate?: TlsMaterial['certificate'] & { changed: boolean };
}

export interface BrokerStats extends BrokerAccessStats {
  clients: number;
  /** Connections not logged in yet. */
  connecting: number;
  /** Connections closed because MAX_CONNECTING were logging in at once (the oldest made room). */
  connectionsDropped: number;
  /** Connections closed for not logging in in time, or for sending too much or what is not MQTT. */
  closed: ConnectionGuardStats['closed'];
}

export interface BrokerOptions {
  /** The `broker` section: users, anonymous access, TLS listener, limits. Absent: an open broker. */
  security?: BrokerSecurity;
  /**
   * The gateway's edge node (site.group, site.node), whose MQTT client id only its own login may use; with `login`
   * (the embedded broker), its internal credential, admitted with the node's rights.
   */
  node?: { group: string; node: string; login?: NodeLogin | undefined };
}

/** Publishes that a client may not make are dropped by renaming them to this topic, which nobody may subscribe to. */
const DROPPED = '$edge-gateway/dropped';

export async function startBroker(listen: { host: string; port: number }, log: Logger, options: BrokerOptions = {}): Promise<LocalBroker> {
  let security: BrokerSecurity = options.security ?? {};
  // The embedded broker's own edge node: admitted by the credential made at start, whatever a reload changes.
  const internal = options.node?.login ? { login: options.node.login, rights: edgeNodeRights(options.node.group, options.node.node) } : undefined;
  const access = new BrokerAccess(security, internal, log, options.node && edgeNodeClientId(options.node.group, options.node.node));
  const guard = new ConnectionGuard(() => ({
    connectTimeoutMs: security.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxPacketBytes: security.max_packet_bytes ?? DEFAULT_MAX_PACKET_BYTES,
  }), limitedLog(log));
  // The clients that logged in, with who they are; a reload goes through them.
  const identities = new Map<Client, Identity>();

  const aedes = await Aedes.createBroker(brokerHooks(access, guard, identities));

  const servers: Server[] = [];
  let tlsServer: TlsServer | undefined;
  let certificate: TlsMaterial['certificate'] | undefined;
  const closeAll = async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };

  const reload = (next: BrokerSecurity, opts: { reloadTls: boolean }): BrokerReloadOutcome => {
    // Everything that can fail is read first: a password or a certificate that cannot be read refuses the reload
    // before anything changed.
    const rules = loadAccessRules(next);
    const material = tlsServer && opts.reloadTls && next.tls ? readTlsMaterial(next.tls) : undefined;

    security = next;
    access.reconfigure(rules);
    const outcome: BrokerReloadOutcome = { disconnected: [] };
    if (tlsServer && material) {
      // New TLS connections get the new certificate; those already open keep their session.
      tlsServer.setSecureContext(material.context);
      outcome.certificate = { ...material.certificate, changed: material.certificate.fingerprint256 !== certificate?.fingerprint256 };
      certificate = material.certificate;
    }
    reviewClients(identities, access, log, outcome);
    return outcome;
  };

  try {
    const plain = createServer((socket) => {
      guard.opened(socket, { tls: false });
      guard.serve(socket, aedes.handle);
    });
    servers.push(plain);
    const port = await listenOn(plain, listen, 'broker.listen');
    log.info({ host: listen.host, port, users: security.users?.length ?? 0, anonymous: !security.users?.length || security.allow_anonymous === true }, 'Local MQTT broker listening.');
    const tls = security.tls;
    if (tls) {
      const material = readTlsMaterial(tls);
      const server = createTlsServer({ ...material.context, ...(tls.ca_file ? { requestCert: true, rejectUnauthorized: true } : {}) }, (socket) => {
        if (guard.secured(socket)) guard.serve(socket, aedes.handle);
      });
      // The TCP connection is counted and timed from its accept: a handshake that never ends is a connection that
      // never logs in.
      server.on('connection', (socket: Socket) => guard.opened(socket, { tls: true }));
      server.on('tlsClientError', (err, socket) => log.debug({ remote: socket.remoteAddress, err: err.message }, 'MQTT TLS handshake failed.'));
      servers.push(server);
      const tlsPort = await listenOn(server, tls.listen, 'broker.tls.listen');
      tlsServer = server;
      certificate = material.certificate;
      log.info({ host: tls.listen.host, port: tlsPort, clientCertificates: tls.ca_file !== undefined, certificate: { subject: certificate.subject, validTo: certificate.validTo } }, 'Local MQTT broker listening with TLS.');
    }
    aedes.on('clientError', (client, err) => log.debug({ client: client?.id, err: err.message }, 'MQTT client error.'));
    aedes.on('connectionError', (client, err) => log.debug({ remote: remoteOf(client), err: err.message }, 'MQTT connection error.'));
    return {
      url: brokerUrlOf({ host: listen.host, port }),
      clients: () => aedes.connectedClients,
      stats: () => {
        const connections = guard.stats();
        return { clients: aedes.connectedClients, ...structuredClone(access.stats), connecting: connections.connecting, connectionsDropped: connections.dropped, closed: connections.closed };
      },
      listening: () => servers.every((s) => s.listening),
      reload,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The client's IP address, for log lines and counters. */
function remoteOf(client: Client | null): string {
  return (client?.conn as Socket | undefined)?.remoteAddress ?? 'unknown';
}

/**
 * What aedes asks the broker's access rules: who may log in, and what each client may publish, subscribe to and
 * receive. A client that logged in is entered in `identities` with who it is, until its connection closes.
 */
function brokerHooks(access: BrokerAccess, guard: ConnectionGuard, identities: Map<Client, Identity>): AedesOptions {
  const identityOf = (client: Client) => identities.get(client);
  return {
    authenticate(client, username, password, done) {
      const remote = remoteOf(client);
      access.login(username, password, remote).then((result) => {
        if (!result.ok) return done(Object.assign(new Error(`refused: ${result.reason}`), { returnCode: result.returnCode }), false);
        // Gone while its password was checked: nothing to count (its 'close' has passed already).
        if ((client.conn as Socket).destroyed) return done(Object.assign(new Error('closed during login'), { returnCode: 3 }), false);
        // Refused here, before aedes goes on to register the client, which is where it would close the node's
        // connection to hand its client id over [MQTT-3.1.4-2].
        const ownId = access.mayUseClientId(client.id, result.identity, remote);
        if (!ownId.ok) return done(Object.assign(new Error(`refused: ${ownId.reason}`), { returnCode: ownId.returnCode }), false);
        const admitted = access.admit(client, result.identity, remote);
        if (!admitted.ok) return done(Object.assign(new Error(`refused: ${admitted.reason}`), { returnCode: admitted.returnCode }), false);
        identities.set(client, result.identity);
        guard.loggedIn(client.conn as Socket, { id: client.id, user: result.identity.user });
        client.conn.once('close', () => {
          identities.delete(client);
          access.release(client);
        });
        done(null, true);
      }, (err: Error) => done(Object.assign(err, { returnCode: 3 }), false));
    },
    // [MQTT-3.3.5-2] a publish the client may not make is acknowledged and dropped, as Mosquitto does: a host
    // application with a wrong ACL keeps its session (and its STATE), the log and the counter say what happened.
    authorizePublish(client, packet, done) {
      if (packet.topic.startsWith('$SYS/')) return done(new Error('$SYS/ topics are reserved'));
      if (client === null) return done(null); // a will kept from an earlier session, authorized when it was made
      if (!access.mayPublish(identityOf(client), packet.topic, remoteOf(client))) {
        packet.topic = DROPPED;
        packet.retain = false;
        packet.payload = Buffer.alloc(0);
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const allowed = !sub.topic.startsWith('$edge-gateway/') && access.maySubscribe(identityOf(client), sub.topic, remoteOf(client));
      done(null, allowed ? sub : null); // refused: SUBACK 0x80 for this filter, the others stand
    },
    // Every message a client receives is within its rights as they are now: after a reload narrowed them, a
    // subscription made before delivers only what the new rights allow (as does a persistent session's queue).
    authorizeForward(client, packet) {
      const identity = identityOf(client);
      return identity && mayReceive(identity.rights, packet.topic) ? packet : null;
    },
  };
}

/**
 * After a reload, each logged-in client under the new rules: disconnected (and counted, and logged) when its login
 * no longer holds, else kept under its new rights, with a warning naming the subscriptions beyond them.
 */
function reviewClients(identities: Map<Client, Identity>, access: BrokerAccess, log: Logger, outcome: BrokerReloadOutcome): void {
  for (const [client, identity] of identities) {
    if (client.closed) continue;
    const verdict = access.review(identity);
    const remote = remoteOf(client);
    if ('disconnect' in verdict) {
      access.disconnected(verdict.disconnect);
      outcome.disconnected.push({ user: identity.user, remote, reason: verdict.disconnect });
      log.warn({ user: identity.user, remote, clientId: client.id, reason: verdict.disconnect }, disconnectMessage(identity.user, verdict.disconnect));
      client.close(); // its will goes out as for any lost connection; its entry goes with its socket
      continue;
    }
    identities.set(client, verdict.keep);
    // aedes keeps a client's subscriptions (filter → QoS) on the client; untyped, and only read for this log line.
    const subscribed = (client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {};
    const beyond = Object.keys(subscribed).filter((filter) => !maySubscribe(verdict.keep.rights, filter));
    if (beyond.length > 0) {
      log.warn({ user: identity.user, remote, clientId: client.id, subscriptions: beyond },
        `MQTT client of ${identity.user === null ? 'an anonymous client' : `user "${identity.user}"`}: ${beyond.join(', ')} is beyond its new rights; it receives only the topics they allow.`);
    }
  }
}

/** Where a local client reaches a broker listening on `listen` (a wildcard address is reached on loopback). */
export function brokerUrlOf(listen: { host: string; port: number }): string {
  const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}
