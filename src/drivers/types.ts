// The contract between the edge runtime and a southbound driver. The edge owns timers, the tag model,
// publishing and storage; a driver owns the wire protocol, request planning and decoding.
import type { Logger } from 'pino';

export type TagValue = number | boolean | bigint | string | null;

export type Quality = 'good' | 'bad' | 'stale';

/** What the device sent for one tag, before decoding and scaling: for people checking a map (`edge-gateway once`). */
export type RawReading =
  /** Modbus registers as they came off the wire. */
  | { registers: readonly number[] }
  /** A Modbus coil or discrete input. */
  | { bit: boolean }
  /** An MQTT message's topic and the JSON value at the tag's path (absent when the path is not there); `text`: the start of a message that is not JSON. */
  | { topic: string; json?: unknown; text?: string };

export interface Sample {
  tag: string;
  value: TagValue;
  /** Acquisition time, ms since the epoch (UTC). */
  timestamp: number;
  quality: Quality;
  /** Optional: what the device sent for this tag. The edge ignores it. */
  raw?: RawReading;
  /** Optional: why the quality is bad, in words. */
  problem?: string;
}

export interface Driver {
  /** Open connections and plan requests; may be called again after close() or after a failed poll. */
  connect(): Promise<void>;
  /** One read of every tag. Rejects when the device does not answer; the edge schedules the retry. */
  poll(signal: AbortSignal): Promise<Sample[]>;
  /** Present only for drivers that can write; the edge checks `writable` before calling it. */
  write?(tag: string, value: TagValue): Promise<void>;
  close(): Promise<void>;
  /**
   * True for drivers that are sent data instead of asking for it (MQTT devices): a poll only reads what arrived,
   * so after a failed poll the edge keeps the driver connected (closing would lose what arrives meanwhile) and
   * retries at the poll interval, without backoff.
   */
  readonly listens?: boolean;
  /** Optional: the driver's own event counts since start (messages, parse errors, …), for /metrics. */
  counters?(): Readonly<Record<string, number>>;
}

export interface DriverContext {
  log: Logger;
  /** The site broker as a local client reaches it (from broker.listen), for drivers that listen to MQTT devices. */
  siteBrokerUrl?: string;
  /** Reads a password named by `password_file`/`password_env`; throws an error naming `key`, never the value. */
  readSecret?(source: { password_file?: string | undefined; password_env?: string | undefined }, key: string): string;
}

/**
 * Where a tag lives on its device, for people checking a map (`edge-gateway once`): `fields` for its JSON report,
 * `where` for its table's ADDRESS column.
 */
export interface TagDescription {
  fields: {
    /** Modbus: the table, the zero-based address, the manual's 1-based number, the bit, how many registers. */
    table?: 'coil' | 'discrete' | 'input' | 'holding';
    address?: number;
    register?: string;
    bit?: number;
    registers?: number;
    /** mqtt-json: the topic of the message the value came from (or the tag's filters), and the path. */
    topic?: string;
    path?: string;
  };
  where: string;
}
