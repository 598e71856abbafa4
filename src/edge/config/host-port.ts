import { z } from 'zod';

/** `HOST:PORT`, `[v6]:PORT` or `PORT` (on `defaultHost`) → { host, port }. */
export const hostPort = (defaultHost: string) =>
  z.string().transform((value, ctx) => {
    const m = /^(?:\[?([^\]]*)\]?:)?(\d{1,5})$/.exec(value.trim());
    const port = m ? Number(m[2]) : NaN;
    if (!m || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not HOST:PORT (example: 127.0.0.1:1883)` });
      return z.NEVER;
    }
    return { host: m[1] || defaultHost, port };
  });
