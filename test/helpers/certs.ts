// A throwaway certificate authority with a server certificate for 127.0.0.1/localhost and a client certificate,
// made by openssl in a temp dir, for the TLS tests of the MQTT broker and of the Kafka uplink.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  dir: string;
  /** The CA certificate (PEM): what clients trust. */
  caFile: string;
  serverCert: string;
  /** PKCS#8 PEM, not encrypted. */
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function requireOpenssl(): void {
  const r = spawnSync('openssl', ['version']);
  if (r.error || r.status !== 0) throw new Error('openssl is missing: install it (apt-get install -y openssl)');
}

export function makeTestCerts(dir = mkdtempSync(join(tmpdir(), 'edge-gw-certs-'))): TestCerts {
  requireOpenssl();
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '2', '-subj', '/CN=edge-gateway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, cn: string, ext: string) => {
    writeFileSync(path(`${name}.ext`), ext);
    openssl('req', ...ec, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial',
      '-out', path(`${name}.pem`), '-days', '2', '-extfile', path(`${name}.ext`));
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  leaf('client', 'edge-gateway-client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  return { dir, caFile: path('ca.pem'), serverCert: path('server.pem'), serverKey: path('server.key'), clientCert: path('client.pem'), clientKey: path('client.key') };
}

/** Key and certificate in one PEM file, as Kafka's `ssl.keystore.type=PEM` reads it. */
export function pemKeystore(certs: TestCerts, which: 'server' | 'client'): string {
  const file = join(certs.dir, `${which}-keystore.pem`);
  const [key, cert] = which === 'server' ? [certs.serverKey, certs.serverCert] : [certs.clientKey, certs.clientCert];
  writeFileSync(file, `${readFileSync(key, 'utf8')}${readFileSync(cert, 'utf8')}`);
  return file;
}
