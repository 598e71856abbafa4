// Request planning: done once per device, so every poll is the same short list of block reads.
import { MODBUS_TABLES, type ModbusTagConfig } from './config.js';
import type { TagValue } from '../types.js';
import { decode, isBitTable, layoutOf, readBit, tagWidth, toEngineering, type ModbusTable } from './codec.js';

export interface BlockRead {
  table: ModbusTable;
  /** Zero-based address of the first register/bit read. */
  start: number;
  /** Registers (holding/input) or bits (coil/discrete), gaps included. */
  count: number;
  tags: ModbusTagConfig[];
}

/** The most one request may read: 125 registers (FC3/FC4) and 2000 bits (FC1/FC2) per the Modbus spec. */
export interface ReadLimits {
  registers: number;
  bits: number;
}

export const MODBUS_LIMITS: ReadLimits = { registers: 125, bits: 2000 };

const LAST_ADDRESS = 0xffff;

/**
 * Coalesces tags into the fewest block reads: tags of one table share a request when the unused
 * registers between them number at most `maxGap` and the block stays within the limit. Tags are never
 * split across blocks, so a 32-bit value always comes from one response. Throws on a tag that runs past
 * address 65535; the caller adds the device name.
 */
export function planReads(tags: readonly ModbusTagConfig[], maxGap: number, limits: ReadLimits = MODBUS_LIMITS): BlockRead[] {
  const plan: BlockRead[] = [];
  for (const table of MODBUS_TABLES) {
    const limit = isBitTable(table) ? limits.bits : limits.registers;
    const inTable = tags
      .filter((t) => t.table === table)
      .map((tag) => ({ tag, start: tag.address, end: tag.address + tagWidth(tag) }))
      .sort((a, b) => a.start - b.start || a.end - b.end);
    let block: BlockRead | undefined;
    for (const { tag, start, end } of inTable) {
      if (end - 1 > LAST_ADDRESS) {
        throw new RangeError(`tag "${tag.name}": ${tag.type} at ${table} ${start} runs past the last address (${LAST_ADDRESS})`);
      }
      if (block) {
        const blockEnd = block.start + block.count;
        const gap = start - blockEnd;
        const newEnd = Math.max(blockEnd, end);
        if (gap <= maxGap && newEnd - block.start <= limit) {
          block.count = newEnd - block.start;
          block.tags.push(tag);
          continue;
        }
      }
      block = { table, start, count: end - start, tags: [tag] };
      plan.push(block);
    }
  }
  return plan;
}

const NOUNS: Record<ModbusTable, readonly [string, string]> = {
  holding: ['holding register', 'holding registers'],
  input: ['input register', 'input registers'],
  coil: ['coil', 'coils'],
  discrete: ['discrete input', 'discrete inputs'],
};

// Registers before bits: registers are what cost time on the wire.
const DESCRIBE_ORDER: readonly ModbusTable[] = ['holding', 'input', 'coil', 'discrete'];

const plural = (n: number, [one, many]: readonly [string, string]) => `${n} ${n === 1 ? one : many}`;

/** For the start-up log: `press-01: 2 requests touching 3 holding registers, 1 coil`. */
export function describePlan(device: { name: string }, plan: readonly BlockRead[]): string {
  if (plan.length === 0) return `${device.name}: no requests (no tags)`;
  const parts: string[] = [];
  for (const table of DESCRIBE_ORDER) {
    const blocks = plan.filter((b) => b.table === table);
    if (blocks.length === 0) continue;
    const touched = blocks.reduce((sum, b) => sum + b.count, 0);
    parts.push(plural(touched, NOUNS[table]) + (blocks.length > 1 ? ` (${blocks.length} requests)` : ''));
  }
  return `${device.name}: ${plural(plan.length, ['request', 'requests'])} touching ${parts.join(', ')}`;
}

/** `holding 0..1`, for error messages about one block. */
export function describeBlock(block: Pick<BlockRead, 'table' | 'start' | 'count'>): string {
  const last = block.start + block.count - 1;
  return last === block.start ? `${block.table} ${block.start}` : `${block.table} ${block.start}..${last}`;
}

/**
 * A block split where it bridged unused addresses: one block per run of addresses that tags really occupy.
 * With `adjacent: false` even touching tags part, leaving one block per tag (or per group of tags that share
 * registers, like bits of one register). Used when a device refuses a block (exception 2), to find out which
 * addresses it does not have.
 */
export function splitBlock(block: BlockRead, adjacent: boolean): BlockRead[] {
  const parts: BlockRead[] = [];
  const sorted = [...block.tags].sort((a, b) => a.address - b.address);
  let part: BlockRead | undefined;
  for (const tag of sorted) {
    const end = tag.address + tagWidth(tag);
    const partEnd = part ? part.start + part.count : -1;
    if (part && (tag.address < partEnd || (adjacent && tag.address === partEnd))) {
      part.count = Math.max(partEnd, end) - part.start;
      part.tags.push(tag);
    } else {
      part = { table: block.table, start: tag.address, count: end - tag.address, tags: [tag] };
      parts.push(part);
    }
  }
  return parts;
}

/** Whether a block reads addresses that no tag occupies. */
export function bridgesGaps(block: BlockRead): boolean {
  return splitBlock(block, true).length > 1;
}

/** One response per block: register words for holding/input, bits for coil/discrete. */
export type BlockData = readonly number[] | readonly boolean[];

export interface TagReading {
  tag: ModbusTagConfig;
  /** The words or the bit exactly as the device sent them, before decoding and scaling. */
  raw: number[] | boolean;
  value: TagValue;
}

/**
 * Cuts each tag's words/bit out of its block's response and converts it to an engineering value.
 * Bit responses may be longer than asked (devices pad to whole bytes); shorter ones throw.
 */
export function extractReadings(block: BlockRead, data: BlockData): TagReading[] {
  if (data.length < block.count) {
    throw new RangeError(`short response for ${describeBlock(block)}: ${data.length} of ${block.count} ${isBitTable(block.table) ? 'bits' : 'registers'}`);
  }
  return block.tags.map((tag) => {
    const at = tag.address - block.start;
    if (isBitTable(block.table)) {
      const bit = Boolean(data[at]);
      return { tag, raw: bit, value: bit };
    }
    const words = (data as readonly number[]).slice(at, at + tagWidth(tag));
    if (tag.bit !== undefined) return { tag, raw: words, value: readBit(words[0]!, tag.bit) };
    if (tag.type === 'bool') throw new RangeError(`tag "${tag.name}": type bool in a register needs a bit`);
    const raw = decode(tag.type, words, layoutOf(tag));
    return { tag, raw: words, value: typeof raw === 'string' ? raw : toEngineering(raw, tag.scale, tag.offset) };
  });
}
