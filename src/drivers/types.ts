// The contract between the edge runtime and a southbound driver. The edge owns timers, the tag model,
// publishing and storage; a driver owns the wire protocol, request planning and decoding.
import type { Logger } from 'pino';

export type TagValue = number | boolean | bigint | string | null;

export type Quality = 'good' | 'bad' | 'stale';

export interface Sample {
  tag: string;
  value: TagValue;
  /** Acquisition time, ms since the epoch (UTC). */
  timestamp: number;
  quality: Quality;
}

export interface Driver {
  /** Open connections and plan requests; may be called again after close() or after a failed poll. */
  connect(): Promise<void>;
  /** One read of every tag. Rejects when the device does not answer; the edge schedules the retry. */
  poll(signal: AbortSignal): Promise<Sample[]>;
  /** Present only for drivers that can write; the edge checks `writable` before calling it. */
  write?(tag: string, value: TagValue): Promise<void>;
  close(): Promise<void>;
}

export interface DriverContext {
  log: Logger;
}
