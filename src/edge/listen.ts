import type { Server } from 'node:net';

/** Listens, or fails with a sentence that names the config key and the likely cause. */
export async function listenOn(server: Server, listen: { host: string; port: number }, key: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${listen.host}:${listen.port}`;
      const why =
        err.code === 'EADDRINUSE' ? `${where} is already in use by another program (another gateway, or a broker such as mosquitto?)`
        : err.code === 'EADDRNOTAVAIL' ? `${where}: this machine has no such address`
        : err.code === 'EACCES' ? `${where}: ports below 1024 need privileges`
        : `${where}: ${err.message}`;
      reject(new Error(`${key}: cannot listen on ${why}`));
    };
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : listen.port;
}
