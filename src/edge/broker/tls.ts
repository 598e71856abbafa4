// The TLS listener's certificate, key and CA, read from their PEM files and tried before use: at start, and at
// every reload (a renewed certificate replaced on disk under the same name is picked up), so that a broken or
// mismatched file refuses the reload instead of being served.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConfigValueError, type ValueProblem } from '../config/value-error.js';

export interface BrokerTlsFiles {
  cert_file: string;
  key_file: string;
  ca_file?: string | undefined;
}

export interface TlsMaterial {
  /** For tls.createServer and tls.Server#setSecureContext. */
  context: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** The server certificate, for the log (public data). */
  certificate: { subject: string; validTo: string; fingerprint256: string };
}

export function readTlsMaterial(tls: BrokerTlsFiles): TlsMaterial {
  const problems: ValueProblem[] = [];
  const read = (field: keyof BrokerTlsFiles): Buffer | undefined => {
    const file = tls[field];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push({ path: ['broker', 'tls', field], message: `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}` });
      return undefined;
    }
  };
  const cert = read('cert_file');
  const key = read('key_file');
  const ca = read('ca_file');
  if (problems.length > 0 || !cert || !key) throw new ConfigValueError(problems);

  const parse = (field: 'cert_file' | 'ca_file', pem: Buffer): X509Certificate => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new ConfigValueError([{ path: ['broker', 'tls', field], message: `${tls[field]} holds no PEM certificate: ${(err as Error).message}` }]);
    }
  };
  const x509 = parse('cert_file', cert);
  if (ca) parse('ca_file', ca);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const message = (err as Error).message;
    throw new ConfigValueError([{ path: ['broker', 'tls', 'key_file'], message: /key values mismatch/.test(message) ? `${tls.key_file} is not the key of the certificate in ${tls.cert_file}` : `${tls.key_file} cannot be used: ${message}` }]);
  }
  const context = { cert, key, ...(ca ? { ca } : {}) };
  const certificate = { subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo, fingerprint256: x509.fingerprint256 };
  return { context, certificate };
}
