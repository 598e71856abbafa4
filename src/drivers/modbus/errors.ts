// What can go wrong on a Modbus link, in words a field technician can act on.

export const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function: the device does not support this request',
  2: 'illegal data address: no such address on the device (addresses start at 0; 40001 is holding 0)',
  3: 'illegal data value: the device rejected the request or the value',
  4: 'device failure',
  5: 'acknowledge: the device is still working on it',
  6: 'device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'the device behind the gateway did not respond',
};

/** A failure we detected ourselves; its message is already plain words. */
export class LinkError extends Error {
  constructor(
    message: string,
    /** No answer in time, as opposed to a refused or broken connection. */
    readonly timedOut = false,
  ) {
    super(message);
  }
}

/** The Modbus exception code of a failed request, if the device answered with one. */
export function exceptionCode(err: unknown): number | undefined {
  let e: unknown = err;
  // Our messages wrap the library's error as `cause`.
  for (let depth = 0; depth < 3 && e; depth++) {
    const code = (e as { modbusCode?: unknown }).modbusCode;
    if (typeof code === 'number') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTimeout(err: unknown): boolean {
  if (err instanceof LinkError) return err.timedOut;
  const e = (err ?? {}) as { name?: string; errno?: unknown };
  return e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT';
}

/** Turns what modbus-serial, serialport and node:net throw (often not even Error instances) into plain words. */
export function explain(err: unknown, timeoutMs: number, host?: string): string {
  if (err instanceof LinkError) return err.message;
  const e = (err ?? {}) as { name?: string; message?: string; code?: string; errno?: unknown; modbusCode?: unknown };
  if (typeof e.modbusCode === 'number') return `exception ${e.modbusCode} (${EXCEPTIONS[e.modbusCode] ?? 'unknown exception code'})`;
  const code = e.code ?? (typeof e.errno === 'string' ? e.errno : undefined);
  if (e.name === 'TransactionTimedOutError' || code === 'ETIMEDOUT' || e.message === 'TCP Connection Timed Out') {
    return `no answer within ${timeoutMs} ms`;
  }
  if (e.name === 'PortNotOpenError') return 'the connection is not open';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens on that port)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the device closed the connection';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name "${host ?? ''}" not found`;
  }
  const message = e.message || String(err);
  if (/CRC error/.test(message)) return 'garbled answer (CRC error): check baud rate, parity, wiring and termination';
  if (/Unexpected data error|Data length error/.test(message)) return `unexpected answer (${message}): another master on the bus, or an answer that came too late`;
  if (/No such file or directory|ENOENT/.test(message)) return `serial port not found (${message})`;
  if (/Permission denied|EACCES/.test(message)) return `no permission to open the serial port (${message}); add the gateway's user to the dialout group`;
  return message;
}
