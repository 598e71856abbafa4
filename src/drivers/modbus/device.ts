// One Modbus device on a line (TCP or serial): its request plan, its polls and its writes. The transport and
// the sharing of the line live in bus.ts; tcp.ts and rtu.ts only say which line.
import type { ModbusRtuDeviceConfig, ModbusTagConfig, ModbusTcpDeviceConfig } from './config.js';
import type { Driver, DriverContext, Sample, TagValue } from '../types.js';
import { aborted, busFor, type Bus, type Client, type Endpoint, type Member } from './bus.js';
import { encode, encodeString, layoutOf, tagWidth, toRaw, withBit, type ModbusTable } from './codec.js';
import { exceptionCode, explain, EXCEPTIONS, LinkError } from './errors.js';
import { bridgesGaps, describeBlock, describePlan, extractReadings, planReads, splitBlock, type BlockData, type BlockRead } from './plan.js';

export type ModbusDevice = ModbusTcpDeviceConfig | ModbusRtuDeviceConfig;

const ILLEGAL_ADDRESS = 2;

const READERS: Record<ModbusTable, (client: Client, start: number, count: number) => Promise<BlockData>> = {
  coil: (c, start, count) => c.readCoils(start, count).then((r) => r.data),
  discrete: (c, start, count) => c.readDiscreteInputs(start, count).then((r) => r.data),
  holding: (c, start, count) => c.readHoldingRegisters(start, count).then((r) => r.data),
  input: (c, start, count) => c.readInputRegisters(start, count).then((r) => r.data),
};

/**
 * A driver for `device` on the line `endpoint`. `where` names the device in every message:
 * `device "press-01" (127.0.0.1:502 unit 1)`.
 */
export function createModbusDriver(device: ModbusDevice, endpoint: Endpoint, ctx: DriverContext): Driver {
  return new ModbusDriver(device, endpoint, ctx);
}

/** One unit on a shared line: the plan it is read by (which learns what the device refuses), its polls and writes. */
class ModbusDriver implements Driver {
  private readonly where: string;
  private readonly plan: BlockRead[];
  private readonly tags: Map<string, ModbusTagConfig>;
  private readonly configOrder: Map<string, number>;
  private readonly member: Member;
  private readonly bus: Bus;
  /** Tags whose own address the device refuses: reported bad, logged once. */
  private readonly refused = new Set<string>();
  private joined = false;
  // A write waits for this device's poll in progress and vice versa: a read-modify-write of a bit must not
  // interleave with a poll's reading of the same register.
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: ModbusDevice,
    private readonly endpoint: Endpoint,
    private readonly ctx: DriverContext,
  ) {
    this.where = `device "${device.name}" (${endpoint.label} unit ${device.unit_id})`;
    try {
      this.plan = planReads(device.tags, device.max_gap);
    } catch (err) {
      throw new Error(`configuration invalid for device "${device.name}": ${(err as Error).message}`, { cause: err });
    }
    ctx.log.info({ requests: this.plan.length }, describePlan(device, this.plan));
    this.tags = new Map(device.tags.map((tag) => [tag.name, tag]));
    this.configOrder = new Map(device.tags.map((tag, i) => [tag.name, i]));
    this.member = { name: device.name, unitId: device.unit_id, requestTimeoutMs: device.request_timeout, pauseMs: device.pause };
    this.bus = busFor(endpoint, device.unit_id);
  }

  async connect(): Promise<void> {
    if (this.joined && this.bus.connected) return;
    try {
      await this.bus.connect(this.member, this.endpoint, this.device.timeout);
      this.joined = true;
    } catch (err) {
      this.joined = false;
      throw new Error(`${this.where}: ${explain(err, this.device.timeout)}`, { cause: err });
    }
  }

  poll(signal: AbortSignal): Promise<Sample[]> {
    const { where } = this;
    if (signal.aborted) return Promise.reject(new Error(`${where}: ${aborted(signal).message} before reading`));
    let started = false;
    const run = this.exclusive(() => {
      started = true;
      return this.pollOnce(signal);
    });
    // Once started, the request in flight reports the abort itself; while still queued behind a write, this
    // does, and the queued poll then fails fast on the aborted signal.
    return new Promise<Sample[]>((resolve, reject) => {
      const onAbort = () => {
        if (!started) reject(new Error(`${where}: ${aborted(signal).message} waiting for a write to finish`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  write(name: string, value: TagValue): Promise<void> {
    const { where } = this;
    const tag = this.tags.get(name);
    if (!tag) return Promise.reject(new Error(`${where}: no tag named "${name}"`));
    if (!tag.writable) return Promise.reject(new Error(`${where}: tag "${name}" is not writable (its config does not say writable: true)`));
    const doing = `writing ${describeBlock({ table: tag.table, start: tag.address, count: tagWidth(tag) })}`;
    let send: (doing: string) => Promise<unknown>;
    try {
      send = this.prepareWrite(tag, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.exclusive(async () => {
      await send(doing);
    });
  }

  async close(): Promise<void> {
    if (!this.joined) return;
    this.joined = false;
    this.bus.leave(this.member);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async request<T>(work: (client: Client) => Promise<T>, doing: string, signal?: AbortSignal): Promise<T> {
    if (!this.joined || !this.bus.connected) {
      throw new Error(`${this.where}: not connected ${doing} (connect() first; the last request failed or the driver was closed)`);
    }
    try {
      return await this.bus.request(this.member, work, signal);
    } catch (err) {
      throw new Error(`${this.where}: ${explain(err, this.device.request_timeout)} ${doing}`, { cause: err });
    }
  }

  /** The device refused a block with exception 2: read it in smaller pieces from now on, or give up on a tag. */
  private replan(block: BlockRead): 'split' | 'refused' {
    const { device, plan } = this;
    const parts = bridgesGaps(block) ? splitBlock(block, true) : splitBlock(block, false);
    if (parts.length < 2) return 'refused';
    plan.splice(plan.indexOf(block), 1, ...parts);
    const why = bridgesGaps(block) ? 'a block that bridges unused addresses' : 'a block of several tags';
    this.ctx.log.warn(
      { device: device.name, block: describeBlock(block), parts: parts.map(describeBlock) },
      `${device.name}: the device refuses ${why}, ${describeBlock(block)} (exception 2, illegal data address); ` +
        `reading it as ${parts.length} requests from now on: ${parts.map(describeBlock).join(', ')}.`,
    );
    return 'split';
  }

  private async pollOnce(signal: AbortSignal): Promise<Sample[]> {
    const { device, plan, refused, where } = this;
    if (signal.aborted) throw new Error(`${where}: ${aborted(signal).message} before reading`);
    const samples: Sample[] = [];
    // plan may grow while we walk it: a split block's parts are read in this same poll.
    for (let i = 0; i < plan.length; i++) {
      const block = plan[i]!;
      let data: BlockData;
      try {
        data = await this.request((client) => READERS[block.table](client, block.start, block.count), `reading ${describeBlock(block)}`, signal);
      } catch (err) {
        if (exceptionCode(err) !== ILLEGAL_ADDRESS) throw err;
        if (this.replan(block) === 'split') {
          i--;
          continue;
        }
        samples.push(...this.refusedSamples(block));
        continue;
      }
      const timestamp = Date.now();
      try {
        for (const r of extractReadings(block, data)) {
          samples.push({ tag: r.tag.name, value: r.value, timestamp, quality: 'good', raw: typeof r.raw === 'boolean' ? { bit: r.raw } : { registers: r.raw } });
          if (refused.delete(r.tag.name)) this.ctx.log.info({ device: device.name, tag: r.tag.name }, `${device.name}: tag "${r.tag.name}" answers again.`);
        }
      } catch (err) {
        this.bus.confused('bad response');
        throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
      }
    }
    // The plan groups tags by table; whoever reads the samples expects them in the order of the config.
    return samples.sort((a, b) => this.configOrder.get(a.tag)! - this.configOrder.get(b.tag)!);
  }

  /** A block the device refuses that cannot be split further: its tags read bad, each logged once per spell. */
  private refusedSamples(block: BlockRead): Sample[] {
    const { device, refused } = this;
    const timestamp = Date.now();
    return block.tags.map((tag): Sample => {
      if (!refused.has(tag.name)) {
        refused.add(tag.name);
        this.ctx.log.warn({ device: device.name, tag: tag.name }, `${device.name}: tag "${tag.name}" (${describeBlock(block)}): the device refuses its address (exception 2, ${EXCEPTIONS[2]}); it is reported with quality bad.`);
      }
      return { tag: tag.name, value: null, timestamp, quality: 'bad', problem: `exception 2 (${EXCEPTIONS[2]})` };
    });
  }

  /** Validates and encodes before queueing, so a bad value is rejected without waiting for a poll. */
  private prepareWrite(tag: ModbusTagConfig, value: TagValue): (doing: string) => Promise<unknown> {
    const { where } = this;
    if (tag.table === 'coil') {
      const state = this.toBool(tag, value, 'is a coil');
      return (doing) => this.request((client) => client.writeCoil(tag.address, state), doing);
    }
    // The schema already forbids these; without the check a slip there would write to a holding register.
    if (tag.table !== 'holding') {
      throw new Error(`${where}: tag "${tag.name}" (${tag.type} in ${tag.table}) cannot be written: Modbus writes only coils and holding registers`);
    }
    if (tag.bit !== undefined) {
      const bit = tag.bit;
      const state = this.toBool(tag, value, `is bit ${bit} of holding ${tag.address}`);
      // No standard request sets one bit of a register (mask write, FC22, is rare in the field): read, change, write.
      return async (doing) => {
        const [word] = await this.request((client) => client.readHoldingRegisters(tag.address, 1).then((r) => r.data), doing);
        if (word === undefined) throw new LinkError(`${where}: empty answer ${doing}`);
        await this.request((client) => client.writeRegister(tag.address, withBit(word, bit, state)), doing);
      };
    }
    const words = this.encodeFor(tag, value);
    return (doing) => this.request<unknown>((client) => (words.length === 1 ? client.writeRegister(tag.address, words[0]!) : client.writeRegisters(tag.address, words)), doing);
  }

  private toBool(tag: ModbusTagConfig, value: TagValue, what: string): boolean {
    if (typeof value === 'boolean') return value;
    if (value === 0 || value === 1) return value === 1;
    throw new Error(`${this.where}: tag "${tag.name}" ${what}: write true or false (or 1/0), not ${JSON.stringify(String(value))}`);
  }

  private encodeFor(tag: ModbusTagConfig, value: TagValue): number[] {
    const { where } = this;
    const fail = (why: string, cause?: unknown) => new Error(`${where}: cannot write ${JSON.stringify(String(value))} to tag "${tag.name}": ${why}`, { cause });
    if (tag.type === 'string') {
      if (typeof value !== 'string') throw fail('it holds text');
      try {
        return encodeString(value, tag.length!, layoutOf(tag));
      } catch (err) {
        throw fail((err as Error).message, err);
      }
    }
    if (tag.type === 'bool') throw fail('a bool in a register needs a bit');
    if ((typeof value !== 'number' || !Number.isFinite(value)) && typeof value !== 'bigint') {
      throw new Error(`${where}: tag "${tag.name}" holds a number, cannot write ${JSON.stringify(String(value))}`);
    }
    try {
      return encode(tag.type, toRaw(value, tag.scale, tag.offset), layoutOf(tag));
    } catch (err) {
      throw new Error(`${where}: cannot write ${value} to tag "${tag.name}": ${(err as Error).message}`, { cause: err });
    }
  }
}
