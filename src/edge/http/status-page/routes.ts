// The routes on http.listen: the page, its data, Prometheus, and the probes.
import type { Registry } from 'prom-client';
import type { GatewayStatus } from '../../gateway/status.js';
import { Reply, type Routes } from '../server.js';
import { healthzReply, readyzReply, type Readiness } from './health.js';
import type { HistoryPoint } from './history.js';
import { STATUS_PAGE } from './page.js';

export interface StatusSources {
  readiness(): Readiness;
  /** Absent until the gateway has started (the journal may be waiting for disk space). */
  status: (() => GatewayStatus) | undefined;
  metrics: Registry | undefined;
  history(): { intervalMs: number; points: HistoryPoint[] };
}

export function statusRoutes(s: StatusSources): Routes {
  const starting = () => Reply.json(503, { starting: true, now: new Date().toISOString(), ready: s.readiness() });
  return {
    '/': () => Reply.html(STATUS_PAGE),
    '/api/status': () => s.status?.() ?? starting(),
    '/api/history': () => ({ now: new Date().toISOString(), ...s.history() }),
    '/metrics': () => s.metrics ?? Reply.text(503, 'starting: no metrics yet'),
    '/healthz': healthzReply,
    '/readyz': () => readyzReply(s.readiness()),
  };
}
