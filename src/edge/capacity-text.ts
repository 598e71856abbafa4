// The journal's capacity as people read it: on the status page, in `edge-gateway status` and from `validate`.
import type { JournalBound, ResolvedBound } from '../uplink/journal/capacity.js';
import { capacityHours } from '../uplink/journal/capacity.js';
import type { PollPlan } from './config/poll-plan.js';

/** 1,020: digits grouped by three, as a plant engineer writes them. */
export function grouped(n: number): string {
  const [whole, fraction] = String(Math.abs(n)).split('.');
  return `${n < 0 ? '-' : ''}${whole!.replace(/\B(?=(\d{3})+$)/g, ',')}${fraction ? `.${fraction}` : ''}`;
}

export function rateText(perSec: number): string {
  if (perSec >= 100) return grouped(Math.round(perSec));
  if (perSec >= 10) return String(Math.round(perSec * 10) / 10);
  return String(Number(perSec.toPrecision(2)));
}

/** Decimal units, as disks are sold: 25.1 GB. */
export function bytesText(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function hoursText(hours: number): string {
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`;
  if (hours < 10) return `${Math.round(hours * 10) / 10} h`;
  const h = `${grouped(Math.round(hours))} h`;
  if (hours >= 2 * 8760) return `${h} (${grouped(Math.round(hours / 8760))} years)`;
  return hours >= 100 ? `${h} (${grouped(Math.round(hours / 24))} days)` : h;
}

/** "holds 61 h at 1,020 samples/s"; what stands in for it while the rate or the bytes per sample are not known. */
export function capacityText(hours: number | null, samplesPerSec: number): string {
  if (hours !== null) return `holds ${hoursText(hours)} at ${rateText(samplesPerSec)} samples/s`;
  return samplesPerSec > 0 ? 'not known until the journal has committed samples' : 'not known: no samples captured over the last minute';
}

/** "80% of /var/lib/edge-gateway (25.1 GB)" or "1.1 GB": the bound as set, and what it came to. */
export function boundText(bound: JournalBound, resolved: ResolvedBound, dataDir: string, now = ''): string {
  if (typeof bound === 'number') return bytesText(bound);
  const where = resolved.measuredAt !== null && resolved.measuredAt !== dataDir ? `, measured on ${resolved.measuredAt}: ${dataDir} does not exist yet` : '';
  return `${bound.percent}% of ${dataDir} (${bytesText(resolved.maxBytes)}${now}${where})`;
}

/** `validate`'s line: the bound resolved against the disk now, and the hours it holds at the poll plan's rate. */
export function planCapacityLine(bound: JournalBound, resolved: ResolvedBound, dataDir: string, plan: PollPlan): string {
  const head = `journal: ${boundText(bound, resolved, dataDir, typeof bound === 'number' ? '' : ' now')}`;
  const pushing = plan.pushing.map((n) => JSON.stringify(n)).join(', ');
  if (plan.bytesPerSample === null) {
    return pushing ? `${head}; the capture rate is not known ahead: mqtt-json devices ${pushing} publish at their own rate` : `${head}; no devices, nothing to capture yet`;
  }
  const hours = capacityHours(resolved.maxBytes, plan.bytesPerSample, plan.samplesPerSec)!;
  const note = `estimate: every tag at every poll, ${plan.bytesPerSample.toFixed(1)} bytes per sample`;
  return pushing
    ? `${head} holds ${hoursText(hours)} at ${rateText(plan.samplesPerSec)} samples/s from the polled devices (${note}; mqtt-json devices ${pushing} publish at their own rate and are not counted)`
    : `${head} holds ${hoursText(hours)} at ${rateText(plan.samplesPerSec)} samples/s (${note})`;
}
