// The edge node's TCP connection to an MQTT server, opened before the MQTT client exists: the bdSeq of a
// session is taken (and persisted) only once there is a connection to send its CONNECT on, so a broker outage
// with many refused connection attempts costs one bdSeq per CONNECT actually sent, not one per attempt.
import { connect, type Socket } from 'node:net';

/** host and port of an `mqtt://HOST:PORT` URL (IPv6 hosts in brackets). */
export function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') throw new Error(`unsupported MQTT server URL ${url} (mqtt://HOST:PORT)`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 1883 : Number(u.port) };
}

/** A connected socket, or the reason there is none (refused, unreachable, timed out, aborted). */
export function openTcp(url: string, timeoutMs: number, signal?: AbortSignal): Promise<Socket | Error> {
  return new Promise((resolve) => {
    let target: { host: string; port: number };
    try {
      target = hostPortOf(url);
    } catch (err) {
      resolve(err as Error);
      return;
    }
    const socket = connect({ host: target.host, port: target.port });
    const done = (result: Socket | Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      if (result instanceof Error) socket.destroy();
      resolve(result);
    };
    const onError = (err: Error) => done(err);
    const onAbort = () => done(new Error('stopped'));
    const timer = setTimeout(() => done(new Error(`no TCP connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.setNoDelay(true);
      done(socket);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
