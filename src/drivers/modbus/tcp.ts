// Modbus TCP over modbus-serial. The library neither settles pending requests when its socket closes nor
// destroys a socket whose connect timed out, so every request here runs under our own timer, abort signal
// and connection-lost watch, and any failure destroys the whole connection: the next connect() starts clean.
import modbus from 'modbus-serial';
import type { DeviceConfig, ModbusTagConfig } from '../../edge/config/schema.js';
import type { Driver, DriverContext, Sample, TagValue } from '../types.js';
import { encode, toRaw, width, type ModbusTable, type RegisterType } from './codec.js';
import { describeBlock, describePlan, extractReadings, planReads, type BlockData, type BlockRead } from './plan.js';

const ModbusRTU = modbus.default;
type Client = InstanceType<typeof ModbusRTU>;

export type ModbusTcpDevice = Extract<DeviceConfig, { driver: 'modbus-tcp' }>;

const READERS: Record<ModbusTable, (client: Client, start: number, count: number) => Promise<BlockData>> = {
  coil: (c, start, count) => c.readCoils(start, count).then((r) => r.data),
  discrete: (c, start, count) => c.readDiscreteInputs(start, count).then((r) => r.data),
  holding: (c, start, count) => c.readHoldingRegisters(start, count).then((r) => r.data),
  input: (c, start, count) => c.readInputRegisters(start, count).then((r) => r.data),
};

const EXCEPTIONS: Record<number, string> = {
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
class LinkError extends Error {}

/** One TCP connection. Once dropped it stays dropped; reconnecting makes a new Link. */
class Link {
  readonly client: Client = new ModbusRTU();
  private lost: LinkError | undefined;
  private readonly watchers = new Set<(reason: LinkError) => void>();

  constructor() {
    // The TCP port reports socket errors through the pending request; this only keeps a stray 'error'
    // event from becoming an uncaught exception.
    this.client.on('error', () => undefined);
    this.client.on('close', () => this.drop('the device closed the connection'));
  }

  get alive(): boolean {
    return this.lost === undefined && this.client.isOpen;
  }

  drop(reason: string): void {
    if (this.lost) return;
    this.lost = new LinkError(reason);
    // destroy(), not close(): close() waits for a FIN that a dead device never sends, and never calls back
    // when the socket was not open.
    this.client.destroy(() => undefined);
    for (const watcher of this.watchers) watcher(this.lost);
    this.watchers.clear();
  }

  /** Starts `work` and settles with it, unless the link drops, `ms` pass or `signal` aborts first. */
  guard<T>(work: () => Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) return reject(this.lost);
      if (signal?.aborted) return reject(aborted(signal));
      const done = (settle: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.watchers.delete(onLost);
        settle();
      };
      const timer = setTimeout(() => done(() => reject(new LinkError(`no answer within ${ms} ms`))), ms);
      const onAbort = () => done(() => reject(aborted(signal!)));
      const onLost = (reason: LinkError) => done(() => reject(reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.watchers.add(onLost);
      let started: Promise<T>;
      try {
        started = work();
      } catch (err) {
        started = Promise.reject(err);
      }
      started.then(
        (value) => done(() => resolve(value)),
        (err: unknown) => done(() => reject(err)),
      );
    });
  }
}

function aborted(signal: AbortSignal): LinkError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'no reason given');
  return new LinkError(`poll aborted (${reason})`);
}

/** Turns what modbus-serial and node:net throw (often not even Error instances) into plain words. */
function explain(err: unknown, device: ModbusTcpDevice): string {
  if (err instanceof LinkError) return err.message;
  const e = (err ?? {}) as { name?: string; message?: string; code?: string; errno?: unknown; modbusCode?: unknown };
  if (typeof e.modbusCode === 'number') return `exception ${e.modbusCode} (${EXCEPTIONS[e.modbusCode] ?? 'unknown exception code'})`;
  const code = e.code ?? (typeof e.errno === 'string' ? e.errno : undefined);
  if (e.name === 'TransactionTimedOutError' || code === 'ETIMEDOUT' || e.message === 'TCP Connection Timed Out') {
    return `no answer within ${device.timeout} ms`;
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
      return `host name "${device.host}" not found`;
  }
  return e.message || String(err);
}

export function createModbusTcpDriver(device: ModbusTcpDevice, ctx: DriverContext): Driver {
  const where = `device "${device.name}" (${device.host}:${device.port} unit ${device.unit_id})`;
  let plan: BlockRead[];
  try {
    plan = planReads(device.tags, device.max_gap);
  } catch (err) {
    throw new Error(`configuration invalid for device "${device.name}": ${(err as Error).message}`, { cause: err });
  }
  ctx.log.info({ requests: plan.length }, describePlan(device, plan));
  const tags = new Map(device.tags.map((tag) => [tag.name, tag]));
  const configOrder = new Map(device.tags.map((tag, i) => [tag.name, i]));

  let link: Link | undefined;
  let connecting: Promise<void> | undefined;
  // Many PLCs mishandle pipelined requests, so a write waits for the poll in progress and vice versa.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };

  const discard = (current: Link, reason: string) => {
    current.drop(reason);
    if (link === current) link = undefined;
  };

  const liveLink = (doing: string): Link => {
    if (!link?.alive) throw new Error(`${where}: not connected ${doing} (connect() first; the last request failed or the driver was closed)`);
    return link;
  };

  /** One request on the connection; any failure costs the connection. */
  async function request<T>(current: Link, work: () => Promise<T>, doing: string, signal?: AbortSignal): Promise<T> {
    try {
      return await current.guard(work, device.timeout, signal);
    } catch (err) {
      discard(current, `failed ${doing}`);
      throw new Error(`${where}: ${explain(err, device)} ${doing}`, { cause: err });
    }
  }

  async function open(): Promise<void> {
    if (link) discard(link, 'reconnecting');
    const next = new Link();
    link = next;
    next.client.setID(device.unit_id);
    next.client.setTimeout(device.timeout);
    try {
      await next.guard(() => next.client.connectTCP(device.host, { port: device.port, timeout: device.timeout }), device.timeout);
    } catch (err) {
      discard(next, 'connect failed');
      throw new Error(`${where}: cannot connect: ${explain(err, device)}`, { cause: err });
    }
    if (link !== next) throw new Error(`${where}: cannot connect: the driver was closed while connecting`);
    ctx.log.debug(`connected to ${where}`);
  }

  async function pollOnce(signal: AbortSignal): Promise<Sample[]> {
    if (signal.aborted) throw new Error(`${where}: ${aborted(signal).message} before reading`);
    const samples: Sample[] = [];
    for (const block of plan) {
      const doing = `reading ${describeBlock(block)}`;
      const current = liveLink(doing);
      const data = await request(current, () => READERS[block.table](current.client, block.start, block.count), doing, signal);
      const timestamp = Date.now();
      try {
        for (const r of extractReadings(block, data)) samples.push({ tag: r.tag.name, value: r.value, timestamp, quality: 'good' });
      } catch (err) {
        discard(current, 'bad response');
        throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
      }
    }
    // The plan groups tags by table; whoever reads the samples expects them in the order of the config.
    return samples.sort((a, b) => configOrder.get(a.tag)! - configOrder.get(b.tag)!);
  }

  /** Validates and encodes before queueing, so a bad value is rejected without waiting for a poll. */
  function prepareWrite(tag: ModbusTagConfig, value: TagValue): (client: Client) => Promise<unknown> {
    if (tag.table === 'coil') {
      const state = toCoilState(tag, value);
      return (client) => client.writeCoil(tag.address, state);
    }
    // The schema already forbids these; without the check a slip there would write to a holding register.
    if (tag.table !== 'holding' || tag.type === 'bool') {
      throw new Error(`${where}: tag "${tag.name}" (${tag.type} in ${tag.table}) cannot be written: Modbus writes only coils and holding registers`);
    }
    const words = encodeFor(tag, tag.type, value);
    return (client) => (words.length === 1 ? client.writeRegister(tag.address, words[0]!) : client.writeRegisters(tag.address, words));
  }

  function toCoilState(tag: ModbusTagConfig, value: TagValue): boolean {
    if (typeof value === 'boolean') return value;
    if (value === 0 || value === 1) return value === 1;
    throw new Error(`${where}: tag "${tag.name}" is a coil: write true or false (or 1/0), not ${JSON.stringify(String(value))}`);
  }

  function encodeFor(tag: ModbusTagConfig, type: RegisterType, value: TagValue): number[] {
    const n = typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      throw new Error(`${where}: tag "${tag.name}" holds a number, cannot write ${JSON.stringify(String(value))}`);
    }
    try {
      return encode(type, toRaw(n, tag.scale, tag.offset));
    } catch (err) {
      throw new Error(`${where}: cannot write ${n} to tag "${tag.name}": ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    connect() {
      if (link?.alive) return Promise.resolve();
      connecting ??= open().finally(() => {
        connecting = undefined;
      });
      return connecting;
    },

    poll(signal) {
      if (signal.aborted) return Promise.reject(new Error(`${where}: ${aborted(signal).message} before reading`));
      let started = false;
      const run = exclusive(() => {
        started = true;
        return pollOnce(signal);
      });
      // Once started, the request in flight reports the abort itself (and drops the connection); while still
      // queued behind a write, this does, and the queued poll then fails fast on the aborted signal.
      return new Promise<Sample[]>((resolve, reject) => {
        const onAbort = () => {
          if (!started) reject(new Error(`${where}: ${aborted(signal).message} waiting for a write to finish`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },

    write(name, value) {
      const tag = tags.get(name);
      if (!tag) return Promise.reject(new Error(`${where}: no tag named "${name}"`));
      if (!tag.writable) return Promise.reject(new Error(`${where}: tag "${name}" is not writable (its config does not say writable: true)`));
      const doing = `writing ${describeBlock({ table: tag.table, start: tag.address, count: width(tag.type) })}`;
      let send: (client: Client) => Promise<unknown>;
      try {
        send = prepareWrite(tag, value);
      } catch (err) {
        return Promise.reject(err);
      }
      return exclusive(async () => {
        const current = liveLink(doing);
        await request(current, () => send(current.client), doing);
      });
    },

    async close() {
      const current = link;
      link = undefined;
      current?.drop('the driver was closed');
    },
  };
}
