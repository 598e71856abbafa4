// The site's MQTT broker (aedes), on broker.listen. Local HMIs and SCADA connect here with no cloud at all.
import { Aedes } from 'aedes';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import { listenOn } from './listen.js';

export interface LocalBroker {
  url: string;
  clients(): number;
  /** False once the listening socket closed (an error, or close()). */
  listening(): boolean;
  close(): Promise<void>;
}

export async function startBroker(listen: { host: string; port: number }, log: Logger): Promise<LocalBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  const port = await listenOn(server, listen, 'broker.listen').catch(async (err: Error) => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  });
  log.info({ host: listen.host, port }, 'Local MQTT broker listening.');
  aedes.on('clientError', (client, err) => log.debug({ client: client?.id, err: err.message }, 'MQTT client error.'));
  return {
    url: brokerUrlOf({ host: listen.host, port }),
    clients: () => aedes.connectedClients,
    listening: () => server.listening,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Where a local client reaches a broker listening on `listen` (a wildcard address is reached on loopback). */
export function brokerUrlOf(listen: { host: string; port: number }): string {
  const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}
