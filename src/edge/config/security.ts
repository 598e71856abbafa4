// The config keys of the site broker's and the Kafka uplink's security: users, topic rights, TLS, limits, SASL.
// Passwords are never written here: a hash (`edge-gateway passwd`), a file or an environment variable.
import { z } from 'zod';
import { filterProblem, maySubscribe, missingEdgeNodeRights } from '../broker/acl.js';
import { isPasswordHash } from './passwords.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_PACKET_BYTES } from '../broker/defaults.js';
import { durationSchema } from '../../drivers/config/duration.js';
import { hostPort } from './host-port.js';
import { sizeSchema } from './size.js';

const topicFilter = z.string().superRefine((value, ctx) => {
  const problem = filterProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `not an MQTT topic filter: ${problem}` });
});

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name');

const secretKeys = {
  // A file holding the password (a trailing line end is ignored). Relative: in $CREDENTIALS_DIRECTORY (systemd
  // LoadCredential=) when set, else in the working directory.
  password_file: z.string().min(1).optional(),
  // An environment variable holding the password.
  password_env: envName.optional(),
};

const rightsKeys = {
  // Topic filters (MQTT wildcards + and #) this client may publish to / subscribe to. Nothing when empty.
  publish: z.array(topicFilter).default([]),
  subscribe: z.array(topicFilter).default([]),
  // May publish Sparkplug commands (NCMD, DCMD), which write to PLCs; `publish` never grants them.
  command: z.boolean().default(false),
};

/** A user's password: a hash made by `edge-gateway passwd`, a file, or an environment variable; exactly one. */
const passwordKeys = {
  password_hash: z
    .string()
    .refine(isPasswordHash, { message: 'not a password hash made by "edge-gateway passwd" (scrypt$14$8$1$...)' })
    .optional(),
  ...secretKeys,
};

function onePassword(user: { name: string; password_hash?: string | undefined; password_file?: string | undefined; password_env?: string | undefined }, ctx: z.RefinementCtx): void {
  const given = [user.password_hash, user.password_file, user.password_env].filter((v) => v !== undefined).length;
  if (given !== 1) {
    ctx.addIssue({ code: 'custom', message: `user "${user.name}": give exactly one of password_hash, password_file, password_env (${given} given)` });
  }
}

const brokerUser = z
  .strictObject({
    name: z.string().min(1).regex(/^[^$\s][^\s]*$/, 'must not start with "$" or hold spaces'),
    ...passwordKeys,
    ...rightsKeys,
  })
  .superRefine(onePassword);

export const brokerSecurityKeys = {
  // Let clients connect without a username. Needed, and must be written out, for an open broker on a network
  // address. With users, anonymous clients get the rights in `anonymous` (none by default).
  allow_anonymous: z.boolean().default(false),
  users: z.array(brokerUser).min(1).optional(),
  anonymous: z.strictObject(rightsKeys).optional(),
  // The user of `users` the gateway's edge node logs in as (its password from password_file/password_env). Without
  // it the embedded broker admits the edge node by a credential made afresh at every start, kept in memory only.
  node_user: z.string().min(1).optional(),
  // A TLS listener beside `listen`.
  tls: z
    .strictObject({
      listen: hostPort('0.0.0.0').default({ host: '0.0.0.0', port: 8883 }),
      cert_file: z.string().min(1),
      key_file: z.string().min(1),
      // When set, every TLS client must present a certificate signed by this CA.
      ca_file: z.string().min(1).optional(),
    })
    .optional(),
  // Most clients connected at once (the edge node not counted), and most from one IP address.
  max_clients: z.number().int().min(1).default(1000),
  max_clients_per_ip: z.number().int().min(1).optional(),
  // The largest MQTT packet a logged-in client may send, fixed header included; a client sending a larger one is
  // disconnected as soon as its header announces it. A Sparkplug birth takes about 75 bytes per metric (float values,
  // 40-character names), 200 with 100-character names and string values: 10,000 metrics are 0.75 to 2 MB.
  max_packet_bytes: sizeSchema
    .refine((n) => n >= 1024 && n <= MQTT_MAX_PACKET, { message: `must be between 1KiB and 256MiB (MQTT's largest packet)` })
    .default(DEFAULT_MAX_PACKET_BYTES),
  // How long a new connection (its TLS handshake included) has to send its CONNECT and be logged in; then it is closed.
  connect_timeout: durationSchema.default(DEFAULT_CONNECT_TIMEOUT_MS),
};

/** 1 byte of packet type, 4 of remaining length, and the largest remaining length [MQTT-2.2.3]. */
const MQTT_MAX_PACKET = 1 + 4 + 268_435_455;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

interface BrokerSecurityInput {
  listen: { host: string; port: number };
  embedded: boolean;
  allow_anonymous: boolean;
  users?: Array<{ name: string; password_hash?: string | undefined; password_file?: string | undefined; password_env?: string | undefined }> | undefined;
  anonymous?: unknown;
  node_user?: string | undefined;
  tls?: { listen: { host: string; port: number } } | undefined;
}

export function brokerSecurityProblems(broker: BrokerSecurityInput, ctx: z.RefinementCtx): void {
  const open = (key: (string | number)[], where: { host: string; port: number }) => {
    if (isLoopback(where.host) || broker.users || broker.allow_anonymous) return;
    ctx.addIssue({
      code: 'custom',
      path: key,
      message: `${where.host} is reachable from the network: set broker.users (who may connect, with passwords) or write "allow_anonymous: true" to let anyone connect without a password`,
    });
  };
  open(['listen'], broker.listen);
  if (broker.tls) open(['tls', 'listen'], broker.tls.listen);

  const names = new Map<string, number>();
  broker.users?.forEach((user, i) => {
    const prev = names.get(user.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `duplicate user name (also users[${prev}])` });
    names.set(user.name, i);
  });
  if (broker.anonymous !== undefined && broker.users && !broker.allow_anonymous) {
    ctx.addIssue({ code: 'custom', path: ['anonymous'], message: 'has no effect: with broker.users, anonymous clients are refused unless "allow_anonymous: true"' });
  }
  if (broker.node_user !== undefined) {
    const user = broker.users?.find((u) => u.name === broker.node_user);
    if (!user) {
      ctx.addIssue({ code: 'custom', path: ['node_user'], message: `"${broker.node_user}" is not one of broker.users` });
    } else if (user.password_file === undefined && user.password_env === undefined) {
      ctx.addIssue({ code: 'custom', path: ['node_user'], message: `the edge node logs in as "${user.name}" and must know its password: give that user password_file or password_env, not only password_hash` });
    }
  } else if (broker.users && !broker.embedded) {
    ctx.addIssue({ code: 'custom', path: ['users'], message: 'with broker.embedded false the edge node logs in to the broker process like any client: set broker.node_user to the user it logs in as' });
  }
}

type Rights = { publish: string[]; subscribe: string[]; command: boolean };

/** node_user must have the rights the edge node needs; checked against site and sparkplug. */
export function nodeUserProblems(
  config: { site: { group: string; node: string }; broker: { node_user?: string | undefined; users?: Array<Rights & { name: string }> | undefined }; sparkplug: { primary_host?: string | undefined } },
  ctx: z.RefinementCtx,
): void {
  const name = config.broker.node_user;
  const user = config.broker.users?.find((u) => u.name === name);
  if (!user) return;
  const missing = missingEdgeNodeRights(user, config.site.group, config.site.node);
  const host = config.sparkplug.primary_host;
  if (host !== undefined && !user.subscribe.some((f) => f === '#' || f === 'spBv1.0/STATE/+' || f === 'spBv1.0/STATE/#' || f === `spBv1.0/STATE/${host}`)) {
    missing.push(`subscribe spBv1.0/STATE/${host}`);
  }
  if (missing.length > 0) {
    ctx.addIssue({ code: 'custom', path: ['broker', 'node_user'], message: `user "${user.name}" lacks what the edge node needs: ${missing.join(', ')}` });
  }
}

interface MqttDeviceLogin {
  broker?: string | undefined;
  username?: string | undefined;
  password_file?: string | undefined;
  password_env?: string | undefined;
  topic: readonly string[];
  tags: ReadonlyArray<{ topic?: string | undefined }>;
}

/**
 * mqtt-json devices that listen on the gateway's own broker must be able to log in and subscribe there: with
 * broker.users, as one of them (with a password the gateway can read) or anonymously where that is allowed.
 */
export function deviceLoginProblems(
  config: {
    broker: { allow_anonymous: boolean; users?: Array<Rights & { name: string; password_hash?: string | undefined }> | undefined; anonymous?: Partial<Rights> | undefined };
    devices: ReadonlyArray<{ driver: string }>;
  },
  ctx: z.RefinementCtx,
): void {
  const users = config.broker.users;
  if (users === undefined) return; // an open broker (loopback, or allow_anonymous written out): anyone may subscribe
  config.devices.forEach((entry, i) => {
    if (entry.driver !== 'mqtt-json') return;
    const device = entry as unknown as MqttDeviceLogin;
    if (device.broker !== undefined) return;
    const filters = [...new Set([...device.topic, ...device.tags.flatMap((t) => (t.topic ? [t.topic] : []))])];
    const lacking = (rights: Rights) => filters.filter((f) => !maySubscribe(rights, f));
    if (device.username === undefined) {
      if (!config.broker.allow_anonymous) {
        ctx.addIssue({ code: 'custom', path: ['devices', i], message: 'the gateway\'s broker admits only broker.users (allow_anonymous is false): give the device username and password_file (or password_env), a user allowed to subscribe to its topics' });
        return;
      }
      const anonymous: Rights = { publish: [], subscribe: [], command: false, ...config.broker.anonymous };
      const missing = lacking(anonymous);
      if (missing.length > 0) ctx.addIssue({ code: 'custom', path: ['devices', i, 'topic'], message: `anonymous clients may not subscribe to ${missing.join(', ')} (broker.anonymous.subscribe): give the device a username, or widen broker.anonymous.subscribe` });
      return;
    }
    const user = users.find((u) => u.name === device.username);
    if (!user) {
      ctx.addIssue({ code: 'custom', path: ['devices', i, 'username'], message: `"${device.username}" is not one of broker.users` });
      return;
    }
    if (device.password_file === undefined && device.password_env === undefined) {
      ctx.addIssue({ code: 'custom', path: ['devices', i, 'username'], message: `user "${user.name}" logs in with a password: give the device password_file or password_env` });
    }
    const missing = lacking(user);
    if (missing.length > 0) ctx.addIssue({ code: 'custom', path: ['devices', i, 'username'], message: `user "${user.name}" may not subscribe to ${missing.join(', ')} (broker.users[].subscribe)` });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The status page

const httpUser = z
  .strictObject({
    // HTTP Basic cannot carry a ":" in the user name.
    name: z.string().min(1).regex(/^[^:\s]+$/, 'must not hold ":" or spaces'),
    ...passwordKeys,
  })
  .superRefine(onePassword);

export const httpSecurityKeys = {
  // Who may read the status page, /api/status and /metrics (HTTP Basic). /healthz and /readyz stay open.
  users: z.array(httpUser).min(1).optional(),
  // Let anyone read them without a password: needed, and must be written out, on a network address without users.
  allow_anonymous: z.boolean().default(false),
};

export function httpSecurityProblems(http: { listen: { host: string; port: number }; users?: Array<{ name: string }> | undefined; allow_anonymous: boolean }, ctx: z.RefinementCtx): void {
  if (!isLoopback(http.listen.host) && !http.users && !http.allow_anonymous) {
    ctx.addIssue({
      code: 'custom',
      path: ['listen'],
      message: `${http.listen.host} is reachable from the network, and the status page shows every tag value: set http.users (who may read it, with passwords) or write "allow_anonymous: true"`,
    });
  }
  if (http.users && http.allow_anonymous) {
    ctx.addIssue({ code: 'custom', path: ['allow_anonymous'], message: 'has no effect with http.users: every reader logs in (remove one of the two)' });
  }
  const names = new Map<string, number>();
  http.users?.forEach((user, i) => {
    const prev = names.get(user.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `duplicate user name (also users[${prev}])` });
    names.set(user.name, i);
  });
}
