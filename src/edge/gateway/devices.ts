// The configured devices of a running gateway: per device a driver, its poll loop and its tag model, started,
// replaced and stopped as a whole, and the latest values each one sent, for the status API. The benchmarks build
// their devices from the same parts (tag definitions, poll options, poll handlers).
import type { Logger } from 'pino';
import { createDriver } from '../../drivers/registry.js';
import type { Driver, Sample, TagValue } from '../../drivers/types.js';
import type { DeviceConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import { Poller, type PollerHandlers, type PollerOptions, type PollerProgress } from '../poller.js';
import { scheduleFor } from '../schedule.js';
import { sparkplugTypeOf } from '../sparkplug/datatypes.js';
import type { Metric } from '../sparkplug/codec.js';
import { DeviceTagModel, tagModelSettings, type TagDef } from '../tag-model.js';
import { iso, type DeviceStatus } from './status.js';

/** A device's tags as the tag model and the Sparkplug births know them: Sparkplug datatype, unit, deadband, heartbeat. */
export function tagDefsOf(device: DeviceConfig): TagDef[] {
  return device.tags.map((t) => ({ name: t.name, datatype: sparkplugTypeOf(t.type, t.scale, t.offset), writable: t.writable, ...(t.unit === undefined ? {} : { unit: t.unit }), ...tagModelSettings(device, t) }));
}

/** Every device's tag definitions, by device name. */
export function tagDefsByDevice(list: readonly DeviceConfig[]): Map<string, TagDef[]> {
  return new Map(list.map((d) => [d.name, tagDefsOf(d)]));
}

/** When and how patiently a device is polled: its interval or cron schedule, its timeout, and when it counts as down. */
export function pollerOptions(device: DeviceConfig): PollerOptions {
  return {
    schedule: scheduleFor(typeof device.poll === 'number' ? { kind: 'interval', ms: device.poll } : device.poll),
    timeoutMs: device.timeout,
    downAfter: 'down_after' in device ? device.down_after : undefined,
  };
}

/** What a device's samples go to: the Sparkplug edge node (DBIRTH, DDATA, DDEATH). */
export interface DeviceNode {
  isOnline(device: string): boolean;
  deviceOnline(device: string, metrics: Metric[]): void;
  deviceData(device: string, metrics: Metric[]): void;
  deviceOffline(device: string): void;
}

/**
 * A poll loop's handlers: the first samples after a start or an outage are a birth, the next ones report what
 * changed; missed polls send the values again marked stale; a device declared down dies (DDEATH) and its model
 * starts over.
 */
export function pollHandlers(name: string, model: DeviceTagModel, node: DeviceNode, seen?: (samples: Sample[]) => void): PollerHandlers {
  return {
    samples: (samples) => {
      seen?.(samples);
      if (!node.isOnline(name)) node.deviceOnline(name, model.birth(samples));
      else node.deviceData(name, model.changes(samples));
    },
    // Missed polls before the device is declared down: its values go out again, marked stale.
    missed: () => node.deviceData(name, model.stale(Date.now())),
    down: () => {
      node.deviceOffline(name);
      model.reset();
    },
  };
}

/** One configured device: its driver and poll loop (the loop's handlers hold its tag model). */
interface DeviceRuntime {
  config: DeviceConfig;
  driver: Driver;
  poller: Poller;
}

export class Devices {
  private readonly running = new Map<string, DeviceRuntime>();
  private readonly latest = new Map<string, Sample[]>();

  constructor(private readonly nodeOf: () => DeviceNode, private readonly deps: { log: Logger; siteBrokerUrl: string }) {}

  private get node(): DeviceNode {
    return this.nodeOf();
  }

  /** Starts the device's driver and poll loop; its first good poll gives its DBIRTH. */
  start(device: DeviceConfig): void {
    const model = new DeviceTagModel(tagDefsOf(device));
    const driver = createDriver(device, { log: this.deps.log.child({ device: device.name }), siteBrokerUrl: this.deps.siteBrokerUrl, readSecret });
    const poller = new Poller(device.name, driver, pollerOptions(device), pollHandlers(device.name, model, this.node, (samples) => this.latest.set(device.name, samples)), this.deps.log);
    this.running.set(device.name, { config: device, driver, poller });
    poller.start();
  }

  /** Stops a device's poll loop and closes its driver; the node announces it dead (DDEATH). */
  async stop(name: string): Promise<void> {
    const d = this.running.get(name);
    if (!d) return;
    this.running.delete(name);
    await d.poller.stop();
    this.node.deviceOffline(name);
    this.latest.delete(name);
  }

  /** Stops every poll loop (at shutdown: the node's NDEATH says the rest). */
  async stopPolling(): Promise<void> {
    await Promise.all([...this.running.values()].map((d) => d.poller.stop()));
  }

  /** A Sparkplug command's write, through the device's driver. */
  async write(device: string, tag: string, value: TagValue): Promise<void> {
    const driver = this.running.get(device)?.driver;
    if (!driver?.write) throw new Error(`device "${device}" cannot be written to`);
    await driver.write(tag, value);
  }

  status(): DeviceStatus[] {
    return [...this.running.values()].map(({ poller: p, config: device, driver }) => {
      const s = p.status();
      const tags = (this.latest.get(p.device) ?? []).map((t) => ({ name: t.tag, value: t.value, quality: s.state === 'up' ? t.quality : ('stale' as const), timestamp: new Date(t.timestamp).toISOString() }));
      const counters = driver.counters?.();
      return { name: p.device, driver: device.driver, state: s.state, lastPollAt: iso(s.lastPollAt), lastError: s.lastError, polls: s.polls, errors: s.errors, tags, ...(counters ? { counters } : {}) };
    });
  }

  progress(): Array<{ name: string } & PollerProgress> {
    return [...this.running.values()].map(({ poller: p }) => ({ name: p.device, ...p.progress() }));
  }
}
