// The systemd watchdog (WatchdogSec= in the unit): the gateway sends WATCHDOG=1 every half interval, but only
// while it makes progress. systemd restarts a gateway that stays silent for a whole interval.
//
// The rule. A restart cures a stuck process, not a stuck world, so only the gateway's own loops count:
//  - the event loop: a blocked loop runs no timer, so nothing is sent at all;
//  - the journal: a commit overdue by more than one check interval (its messages waited longer than the
//    commit interval plus that) means capture has stopped (a flush that never runs, a call that hangs). An
//    idle journal (no devices, or none answering) is fine. A journal that
//    retries a known write failure (disk full) is NOT stuck: a restart frees no disk space and would lose the
//    messages waiting in memory; the failure is reported in the status, /readyz and the logs instead;
//  - every poll loop: each device's next attempt must be over by its deadline (its due time plus connect and
//    read, each bounded by `timeout`), give or take the slack below. A device that does not answer is NOT
//    stuck: its attempts fail within the timeout and the next one is scheduled with backoff, so a dead PLC
//    never restarts the gateway. A loop that hangs past its deadline (a driver that never settles) is stuck.
// Kafka being unreachable, the MQTT broker being away, or devices failing are reported in the status and the
// logs; they never stop the watchdog.
import type { Logger } from 'pino';
import type { GatewayProgress } from '../gateway/status.js';
import type { Notifier } from './notify.js';

/** How far past its deadline a poll loop may be before it counts as stuck (timers run late on a busy CPU). */
export function pollSlackMs(intervalMs: number): number {
  return Math.max(intervalMs, 5000);
}

/** Why the gateway is stuck, or undefined while it makes progress. `intervalMs` is the check interval. */
export function stuckReason(p: GatewayProgress, now: number, intervalMs: number): string | undefined {
  const reasons: string[] = [];
  const { waitingSince, dueAt, waiting, retrying } = p.journal;
  if (waitingSince !== null && dueAt !== null && now - dueAt > intervalMs && !retrying) {
    reasons.push(`the journal has committed nothing for ${seconds(now - waitingSince)} (${waiting} messages wait)`);
  }
  const slack = pollSlackMs(intervalMs);
  const late = p.devices.filter((d) => d.deadline !== null && now - d.deadline > slack);
  for (const d of late) reasons.push(`the poll loop of device "${d.name}" is ${seconds(now - d.deadline!)} past its deadline`);
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The check interval from the environment systemd sets: half of WATCHDOG_USEC, when the watchdog is meant for
 * this process (WATCHDOG_PID unset or ours). Undefined when there is no watchdog.
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface WatchedPart {
  /** Why the part is stuck, or undefined while it makes progress. */
  stuck?(now: number, intervalMs: number): string | undefined;
  /** One line for `systemctl status`. */
  status?(): string;
}

export interface Watchdog {
  /** Swaps the watched part (after a reload; `status` is the line just sent with READY=1); undefined pauses. */
  watch(part: WatchedPart | undefined, status?: string): void;
  stop(): void;
}

/** Status lines without a watchdog are refreshed this often. */
const STATUS_ONLY_MS = 10_000;

/**
 * Every interval: WATCHDOG=1 when the part makes progress (and the watchdog is on), STATUS=… when the status
 * line changed. Logs once when feeding stops, with the reason, and once when it resumes.
 */
export function startWatchdog(notifier: Notifier, intervalMs: number | undefined, log: Logger): Watchdog {
  let part: WatchedPart | undefined;
  let lastStatus: string | undefined;
  let stuckSince: number | undefined;
  const every = intervalMs ?? STATUS_ONLY_MS;
  const tick = () => {
    if (!part) return;
    const now = Date.now();
    let reason: string | undefined;
    try {
      reason = part.stuck?.(now, every);
    } catch (err) {
      reason = `the progress check failed: ${(err as Error).message}`;
    }
    const fields: Record<string, string | number> = {};
    if (reason === undefined) {
      if (intervalMs !== undefined) fields.WATCHDOG = 1;
      if (stuckSince !== undefined) log.info({ stuckMs: now - stuckSince }, 'Progress again: feeding the systemd watchdog again.');
      stuckSince = undefined;
    } else if (stuckSince === undefined) {
      stuckSince = now;
      if (intervalMs !== undefined) log.error({ reason }, `Not feeding the systemd watchdog: ${reason}. systemd restarts the gateway if this lasts ${seconds(intervalMs * 2)}.`);
      else log.error({ reason }, `No progress: ${reason}.`);
    }
    let status: string | undefined;
    try {
      status = reason === undefined ? part.status?.() : `stuck: ${reason}`;
    } catch (err) {
      status = `status unavailable: ${(err as Error).message}`;
    }
    if (status !== undefined && status !== lastStatus) {
      fields.STATUS = status;
      lastStatus = status;
    }
    if (Object.keys(fields).length > 0) notifier.notify(fields);
  };
  const timer = notifier.enabled ? setInterval(tick, every) : undefined;
  timer?.unref();
  return {
    watch(next, status) {
      part = next;
      lastStatus = status;
      stuckSince = undefined;
    },
    stop() {
      clearInterval(timer);
      part = undefined;
    },
  };
}
