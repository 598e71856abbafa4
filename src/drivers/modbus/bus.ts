// One Modbus line: a serial port, or a TCP connection to a PLC or to a gateway in front of an RS-485 bus. Every
// device configured on the same line shares one Bus: one connection, one request at a time in arrival order,
// the configured pause between requests. A unit that does not answer costs its own timeout slot and nothing more.
//
// modbus-serial neither settles pending requests when its socket closes nor destroys a socket whose connect
// timed out, so every request here runs under our own timer and connection-lost watch.
import modbus from 'modbus-serial';
import { exceptionCode, explain, isTimeout, LinkError } from './errors.js';

const ModbusRTU = modbus.default;
export type Client = InstanceType<typeof ModbusRTU>;

/** How to reach a line; `key` is the same for every device on it. */
export interface Endpoint {
  key: string;
  /** For messages: `127.0.0.1:502`, `/dev/ttyUSB0`. */
  label: string;
  /** Settings every device on the line must agree on (serial framing); empty for TCP. */
  settings: string;
  open(client: Client, timeoutMs: number): Promise<unknown>;
  /** Quiet time the line itself needs between frames (3.5 characters on a serial line). */
  silenceMs: number;
  /**
   * TCP: a connection on which no unit answers any more is presumed hung and is rebuilt. A serial port is never
   * reopened for a timeout: a dead unit is not a broken port.
   */
  dropWhenAllUnitsTimeOut: boolean;
  /**
   * TCP: devices that name the same unit get connections of their own (one PLC split into several devices is
   * served in parallel, as PLCs serve several clients); only different units share one (a gateway's bus). A
   * serial port can only be opened once: everything on it shares it.
   */
  connectionPerUnit: boolean;
  /** What it means when the connection or port closes under us. */
  closedMessage: string;
  /** Before each request: forget stray bytes (a late answer to an earlier request). */
  beforeRequest?(client: Client): void;
}

/** One device's use of the line. */
export interface Member {
  name: string;
  unitId: number;
  requestTimeoutMs: number;
  pauseMs: number;
}

/** One TCP connection or one open serial port. Once dropped it stays dropped; reconnecting makes a new Link. */
class Link {
  readonly client: Client = new ModbusRTU();
  private lost: LinkError | undefined;
  private readonly watchers = new Set<(reason: LinkError) => void>();

  constructor(closedMessage: string) {
    // The ports report socket errors through the pending request; this only keeps a stray 'error' event from
    // becoming an uncaught exception.
    this.client.on('error', () => undefined);
    this.client.on('close', () => this.drop(closedMessage));
  }

  get alive(): boolean {
    return this.lost === undefined && this.client.isOpen;
  }

  drop(reason: string): void {
    if (this.lost) return;
    this.lost = new LinkError(reason);
    // destroy(), not close(): close() waits for a FIN that a dead device never sends, and never calls back
    // when the socket was not open.
    try {
      this.client.destroy(() => undefined);
    } catch {
      // a serial port that never opened has nothing to destroy
    }
    for (const watcher of this.watchers) watcher(this.lost);
    this.watchers.clear();
  }

  /** Starts `work` and settles with it, unless the link drops or `ms` pass first. */
  guard<T>(work: () => Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) return reject(this.lost);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(onLost);
        settle();
      };
      const timer = setTimeout(() => done(() => reject(new LinkError(`no answer within ${ms} ms`, true))), ms);
      const onLost = (reason: LinkError) => done(() => reject(reason));
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

export function aborted(signal: AbortSignal): LinkError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'no reason given');
  return new LinkError(`poll aborted (${reason})`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What modbus-serial keeps per request: a slot per Modbus TCP transaction id (0-255). */
interface TransactionSlots {
  _transactions?: Record<string, unknown>;
  _port?: { _transactionIdWrite?: unknown };
}

/** The transaction id the client's next TCP request will use; undefined on a serial line (one slot, reused). */
function nextTransactionId(client: Client): number | undefined {
  const id = (client as unknown as TransactionSlots)._port?._transactionIdWrite;
  return typeof id === 'number' ? id : undefined;
}

/**
 * modbus-serial keeps each TCP request's slot (its callback, and through the settled promise the answer's data
 * and buffer) until its transaction id comes round again: the last 256 answers of every connection stay in
 * memory. Requests here run one at a time and are settled when their turn ends (answered, refused, timed out),
 * so the slots they used are freed then. A late answer finds no slot and is ignored, as modbus-serial ignores an
 * answer to an id it does not know.
 */
function releaseTransactions(client: Client, firstId: number | undefined): void {
  const slots = (client as unknown as TransactionSlots)._transactions;
  const nextId = nextTransactionId(client);
  if (!slots || firstId === undefined || nextId === undefined) return;
  // Usually one id; the counter wraps at 256.
  for (let id = firstId, n = 0; id !== nextId && n < 256; id = (id + 1) % 256, n++) delete slots[id];
}

export class Bus {
  private link: Link | undefined;
  private connecting: Promise<void> | undefined;
  private readonly members = new Set<Member>();
  /** The end of the last request's turn, and whose it was (its pause applies after it too). */
  private lastEnd = 0;
  private lastPause = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Units that timed out since the last answer on this link. */
  private readonly silentUnits = new Set<number>();

  /** The settings of the device that opened the line; whoever joins later must agree with them. */
  constructor(private endpoint: Endpoint) {}

  get connected(): boolean {
    return this.link?.alive === true;
  }

  /** Joins the line and opens it if nobody has yet. Settings that differ from the open line's are refused. */
  async connect(member: Member, endpoint: Endpoint, connectTimeoutMs: number): Promise<void> {
    if (this.members.size === 0) {
      this.endpoint = endpoint;
    } else if (!this.members.has(member) && endpoint.settings !== this.endpoint.settings) {
      const owner = [...this.members][0]!.name;
      throw new LinkError(`${endpoint.label} is in use by device "${owner}" with ${this.endpoint.settings}; this device asks for ${endpoint.settings}: every device on one port needs the same baud, parity, data_bits and stop_bits`);
    }
    this.members.add(member);
    try {
      while (!this.link?.alive) {
        this.connecting ??= this.open(connectTimeoutMs).finally(() => {
          this.connecting = undefined;
        });
        await this.connecting;
      }
    } catch (err) {
      this.leave(member);
      throw err;
    }
  }

  private async open(timeoutMs: number): Promise<void> {
    this.link?.drop('reconnecting');
    const next = new Link(this.endpoint.closedMessage);
    this.link = next;
    this.silentUnits.clear();
    try {
      await next.guard(() => this.endpoint.open(next.client, timeoutMs), timeoutMs);
    } catch (err) {
      next.drop('connect failed');
      if (this.link === next) this.link = undefined;
      throw new LinkError(`cannot connect: ${explain(err, timeoutMs)}`);
    }
    if (this.link !== next) throw new LinkError('cannot connect: the driver was closed while connecting');
  }

  /** Leaves the line; the last one out closes it. */
  leave(member: Member): void {
    this.members.delete(member);
    if (this.members.size > 0) return;
    this.link?.drop('the driver was closed');
    this.link = undefined;
  }

  /** Drops the connection after an answer that makes no sense (TCP), or forgets what arrived (serial). */
  confused(reason: string): void {
    if (this.endpoint.dropWhenAllUnitsTimeOut) {
      this.link?.drop(reason);
    } else if (this.link) {
      this.endpoint.beforeRequest?.(this.link.client);
    }
  }

  /**
   * Queues one request of `member`. The caller's promise settles when the answer comes, the request times out,
   * the link drops or `signal` aborts; the line itself stays busy until the request's own time is up, so that a
   * late answer never meets the next request.
   */
  request<T>(member: Member, work: (client: Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(aborted(signal));
    let cancelled = false;
    let settleCaller: { resolve(v: T): void; reject(e: unknown): void } | undefined;
    const caller = new Promise<T>((resolve, reject) => {
      settleCaller = { resolve, reject };
    });
    const onAbort = () => {
      cancelled = true;
      settleCaller!.reject(aborted(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const turn = this.queue.then(async () => {
      if (cancelled) return;
      try {
        settleCaller!.resolve(await this.turn(member, work));
      } catch (err) {
        settleCaller!.reject(err);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    });
    this.queue = turn;
    return caller;
  }

  private async turn<T>(member: Member, work: (client: Client) => Promise<T>): Promise<T> {
    const gap = Math.max(this.endpoint.silenceMs, this.lastPause, member.pauseMs);
    const wait = this.lastEnd + gap - Date.now();
    if (wait > 0) await sleep(wait);
    const link = this.link;
    try {
      if (!link?.alive || !this.members.has(member)) throw new LinkError('not connected');
      const { client } = link;
      client.setID(member.unitId);
      client.setTimeout(member.requestTimeoutMs);
      this.endpoint.beforeRequest?.(client);
      const firstId = nextTransactionId(client);
      let value: T;
      try {
        value = await link.guard(() => work(client), member.requestTimeoutMs);
      } finally {
        releaseTransactions(client, firstId);
      }
      this.silentUnits.clear();
      return value;
    } catch (err) {
      if (link && isTimeout(err)) this.timedOut(link, member);
      else if (exceptionCode(err) !== undefined) this.silentUnits.clear(); // an exception is an answer too
      throw err;
    } finally {
      this.lastEnd = Date.now();
      this.lastPause = member.pauseMs;
    }
  }

  private timedOut(link: Link, member: Member): void {
    this.silentUnits.add(member.unitId);
    if (!this.endpoint.dropWhenAllUnitsTimeOut) return;
    const units = new Set([...this.members].map((m) => m.unitId));
    if ([...units].every((u) => this.silentUnits.has(u))) link.drop(`no unit answered within ${member.requestTimeoutMs} ms`);
  }
}

// Kept for the life of the process (one per line the configuration names), so that a device reconnecting
// after its neighbours let go finds the same queue.
const lines = new Map<string, Array<{ bus: Bus; units: Set<number> }>>();

/**
 * The line behind `endpoint` for a device with `unitId`, shared with every other device that names the same
 * one; called once per device, when its driver is made.
 */
export function busFor(endpoint: Endpoint, unitId: number): Bus {
  let lanes = lines.get(endpoint.key);
  if (!lanes) {
    lanes = [];
    lines.set(endpoint.key, lanes);
  }
  let lane = endpoint.connectionPerUnit ? lanes.find((l) => !l.units.has(unitId)) : lanes[0];
  if (!lane) {
    lane = { bus: new Bus(endpoint), units: new Set() };
    lanes.push(lane);
  }
  lane.units.add(unitId);
  return lane.bus;
}
