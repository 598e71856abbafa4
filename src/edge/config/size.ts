import { z } from 'zod';
import type { JournalBound } from '../../uplink/journal/capacity.js';

const UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/** "500MB", "2GiB", "64KiB", or a plain number of bytes; undefined when not a size. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)\s*$/i.exec(value);
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return bytes > 0 ? bytes : undefined;
}

/** A config value that is a size, in bytes. */
export const sizeSchema = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (examples: 64MiB, 500MB, 2GiB)` });
      return z.NEVER;
    }
    return bytes;
  });

/**
 * `buffer.max_bytes`: a size as above, or a share of the disk holding data_dir, "80%" (1% to 99%, decimals allowed).
 * A share is of the room the journal could have: the space free to the gateway on that file system plus the
 * journal files' own size. The rest stays free for the system and its logs.
 */
export const journalBoundSchema = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx): JournalBound => {
    if (typeof value === 'string' && value.includes('%')) {
      const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
      const percent = m ? Number(m[1]) : NaN;
      if (!(percent >= 1 && percent <= 99)) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a share of the disk: write 1% to 99% (examples: 80%, 12.5%), or a size (500MB, 2GiB)` });
        return z.NEVER;
      }
      return { percent };
    }
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is neither a size (examples: 500MB, 2GiB) nor a share of the disk (examples: 80%, 12.5%)` });
      return z.NEVER;
    }
    return bytes;
  });
