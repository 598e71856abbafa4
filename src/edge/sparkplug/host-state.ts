// The primary host application's STATE, as an edge node must read it (Sparkplug 3.0 JSON STATE).
import type { Logger } from 'pino';
import { NAMESPACE } from './topics.js';

export interface HostState {
  online: boolean;
  timestamp: number;
}

/** [tck-id-host-topic-phid-required] spBv1.0/STATE/<host_id> */
export function stateTopic(hostId: string): string {
  return `${NAMESPACE}/STATE/${hostId}`;
}

/** A 3.0 STATE payload, or an explanation of why it is not one. */
export function parseHostState(bytes: Uint8Array): HostState | string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return 'not JSON (a Sparkplug 3.0 STATE is {"online":true|false,"timestamp":<UTC ms>})';
  }
  const v = value as Partial<HostState> | null;
  if (typeof v !== 'object' || v === null || typeof v.online !== 'boolean' || typeof v.timestamp !== 'number' || !Number.isFinite(v.timestamp)) {
    return 'missing "online" (boolean) or "timestamp" (number)';
  }
  return { online: v.online, timestamp: v.timestamp };
}

export type HostVerdict = 'online' | 'offline' | 'ignored';

/**
 * What the edge node does with one STATE message, given the timestamp of the last one it accepted.
 * Online needs a timestamp at or after the last accepted one [tck-id-message-flow-edge-node-birth-publish-phid-wait-timestamp];
 * an offline STATE older than the last online one is stale and ignored [tck-id-operational-behavior-edge-node-termination-host-offline-timestamp].
 * The first STATE seen is taken as it is.
 */
export function judgeHostState(state: HostState, lastAccepted: number | undefined): HostVerdict {
  if (lastAccepted !== undefined && state.timestamp < lastAccepted) return 'ignored';
  return state.online ? 'online' : 'offline';
}

/**
 * What the edge node knows of its primary host (`sparkplug.primary_host`): whether its last accepted STATE said
 * online, and that STATE's timestamp.
 */
export class PrimaryHost {
  online = false;
  timestamp: number | undefined;
  readonly topic: string;

  constructor(readonly id: string, private readonly log: Logger) {
    this.topic = stateTopic(id);
  }

  /**
   * [tck-id-message-flow-edge-node-birth-publish-phid-wait] a new session: what STATE said in an earlier one is no
   * longer known. The last accepted timestamp stays, so an older retained STATE is still recognised as stale.
   */
  newSession(): void {
    this.online = false;
  }

  /** Another server: the host's STATE is read afresh there, its retained STATE taken as it is. */
  newServer(): void {
    this.online = false;
    this.timestamp = undefined;
  }

  /** Reads one STATE message; false when it is ignored (not 3.0 JSON, or stale). */
  read(bytes: Uint8Array): boolean {
    // [tck-id-message-flow-edge-node-birth-publish-phid-wait-id] the subscription is to our host id's topic only.
    const state = parseHostState(bytes);
    if (typeof state === 'string') {
      this.log.warn({ primaryHost: this.id, reason: state }, 'Ignored a STATE message of the primary host that is not Sparkplug 3.0 JSON.');
      return false;
    }
    const verdict = judgeHostState(state, this.timestamp);
    if (verdict === 'ignored') {
      this.log.info({ primaryHost: this.id, timestamp: state.timestamp, last: this.timestamp }, 'Ignored a stale STATE of the primary host (older than the last one).');
      return false;
    }
    this.timestamp = state.timestamp;
    const wasOnline = this.online;
    this.online = verdict === 'online';
    if (wasOnline !== this.online) this.log.info({ primaryHost: this.id, online: this.online }, `The primary host application is ${this.online ? 'online' : 'offline'}.`);
    return true;
  }

  status(): { id: string; online: boolean; timestamp: number | null } {
    return { id: this.id, online: this.online, timestamp: this.timestamp ?? null };
  }
}
