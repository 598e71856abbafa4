// Liveness (/healthz) and readiness (/readyz).
//
// Live: the process answers, so its event loop turns. Ready: the gateway does its local job — it can capture
// (the journal is open and its writes succeed), the embedded MQTT broker listens (when the gateway runs it), and
// the status API serves (it is answering). Kafka being unreachable is NOT a readiness failure, however long it
// lasts: store-and-forward covers it and the journal's depth and oldest age show it. Neither is a PLC that does
// not answer (that is plant state, shown per device), nor a Sparkplug session to an external broker.
import { Reply } from '../server.js';

export interface Readiness {
  ready: boolean;
  /** Why not, one sentence each; empty when ready. */
  reasons: string[];
}

/** Each check answers undefined when fine, else what is wrong. */
export type ReadinessCheck = () => string | undefined;

export function readiness(checks: readonly ReadinessCheck[]): Readiness {
  const reasons = checks.map((c) => c()).filter((r): r is string => r !== undefined);
  return { ready: reasons.length === 0, reasons };
}

export function healthzReply(): Reply {
  return Reply.text(200, 'ok');
}

/** 200 "ready", or 503 with one reason per line. */
export function readyzReply(r: Readiness): Reply {
  return r.ready ? Reply.text(200, 'ready') : Reply.text(503, r.reasons.map((reason) => `not ready: ${reason}`).join('\n'));
}
