// What the devices' poll plan captures per second, known from the config alone: the figure `validate` sizes the
// journal with before the gateway ever ran.
import cron from 'node-cron';
import { estimatedBytesPerSample } from '../../uplink/journal/capacity.js';
import type { PollSchedule } from '../../drivers/config/poll-keys.js';
import type { DeviceConfig } from './schema.js';

export interface PollPlan {
  /** Every tag of every polled device at every poll: report by exception captures fewer when values hold still. */
  samplesPerSec: number;
  /** Journal bytes per sample, weighted by each device's share of the samples; null when nothing is polled. */
  bytesPerSample: number | null;
  /** Devices that publish at their own rate (mqtt-json), whose samples no config can foretell. */
  pushing: string[];
}

/** Polls per second of a schedule. A cron schedule is counted on the days it runs, the busiest case. */
export function pollsPerSecond(schedule: PollSchedule): number {
  if (schedule.kind === 'interval') return 1000 / schedule.ms;
  const f = cron.parse(schedule.expression);
  return (f.second.length * f.minute.length * f.hour.length) / 86_400;
}

export function pollPlan(devices: readonly DeviceConfig[]): PollPlan {
  let samplesPerSec = 0;
  let bytes = 0;
  const pushing: string[] = [];
  for (const device of devices) {
    if (device.driver === 'mqtt-json') {
      pushing.push(device.name);
      continue;
    }
    const rate = device.tags.length * pollsPerSecond(device.poll);
    samplesPerSec += rate;
    // One poll is one message: its tags share the record's overhead.
    bytes += rate * estimatedBytesPerSample(device.tags.length);
  }
  return { samplesPerSec, bytesPerSample: samplesPerSec > 0 ? bytes / samplesPerSec : null, pushing };
}
