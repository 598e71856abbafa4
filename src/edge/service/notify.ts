// systemd's notification protocol (sd_notify(3)): newline-separated `KEY=VALUE` datagrams such as `READY=1`,
// `STATUS=…`, `WATCHDOG=1` and `STOPPING=1`, sent to the unix datagram socket named by $NOTIFY_SOCKET.
//
// Node has no unix datagram sockets: node:dgram is UDP only and node:net speaks streams, while the notify
// socket takes datagrams only. The ways around that, weighed:
//  - running systemd-notify(1) for every message: a process per watchdog ping, and systemd tells whose message
//    it is by the sender's PID. Under NotifyAccess=main it drops a child's message; under NotifyAccess=all a
//    message can still be dropped when the child exits before systemd has read it;
//  - an FFI package calling socket(2) and sendto(2) from JavaScript: megabytes of prebuilt binaries, and a
//    mistake in the sockaddr layout crashes the process instead of throwing;
//  - unix-dgram (Ben Noordhuis, ISC licence): a small native addon that does exactly socket/sendto/close on
//    AF_UNIX/SOCK_DGRAM, built by node-gyp at install time like better-sqlite3 (hence its `allowScripts` entry
//    in package.json), checked to build and send on Node 20, 22 and 24. The datagram leaves from the main
//    process itself, which is what NotifyAccess=main expects. This is the one used here.
// Like libsystemd's sd_notify, every message opens a socket, sends and closes it: nothing stays open to keep
// the event loop alive, and a closed or restarted manager socket costs one failed send, not a stale handle.
// unix-dgram copies the address with strncpy and so cannot reach an abstract socket (`@…`); systemd's system
// and user managers hand services a path (/run/systemd/notify), so an abstract address is reported once and
// ignored.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  close(): void;
}

interface UnixDgram {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

export interface Notifier {
  /** True when a service manager listens: $NOTIFY_SOCKET is set and can be reached. */
  readonly enabled: boolean;
  /** Sends the fields as one datagram, e.g. `{ READY: 1, STATUS: 'running' }`. */
  notify(fields: Record<string, string | number>): void;
}

const disabled: Notifier = { enabled: false, notify: () => undefined };

/** The notifier for $NOTIFY_SOCKET, or one that does nothing when the process does not run under systemd. */
export function systemdNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env): Notifier {
  const path = env.NOTIFY_SOCKET;
  if (!path) return disabled;
  if (path.startsWith('@')) {
    log.warn({ notifySocket: path }, 'NOTIFY_SOCKET is an abstract socket, which edge-gateway cannot reach; no readiness or watchdog messages are sent.');
    return disabled;
  }
  let unix: UnixDgram;
  try {
    unix = createRequire(import.meta.url)('unix-dgram') as UnixDgram;
  } catch (err) {
    // Under Type=notify, systemd would wait for READY=1 until its start timeout: say why it never comes.
    log.error({ err: (err as Error).message }, 'Cannot load unix-dgram, needed to notify systemd (Type=notify): reinstall with "npm ci" where a C compiler is present, or "npm rebuild unix-dgram".');
    return disabled;
  }
  let failing = false;
  return {
    enabled: true,
    notify(fields) {
      const message = Buffer.from(Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`).join('\n'));
      const done = (err?: Error) => {
        // One line when notifications start failing and one when they work again, not one per message.
        if (err && !failing) log.error({ err: err.message, notifySocket: path }, 'Cannot notify systemd; it may restart the gateway for a missed watchdog.');
        else if (!err && failing) log.info({ notifySocket: path }, 'Notifying systemd works again.');
        failing = err !== undefined;
      };
      let socket: UnixDgramSocket | undefined;
      try {
        socket = unix.createSocket('unix_dgram');
        socket.send(message, 0, message.length, path, done);
      } catch (err) {
        done(err as Error);
      } finally {
        try {
          socket?.close();
        } catch {
          // the descriptor is gone either way
        }
      }
    },
  };
}
