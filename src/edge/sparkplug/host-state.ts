// The primary host application's STATE, as an edge node must read it (Sparkplug 3.0 JSON STATE).
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
