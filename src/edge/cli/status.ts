// `edge-gateway status`: the running gateway's health for a terminal (over ssh, or where a browser is not at
// hand): what /api/status answers, one line per part and one per tag, as the status page shows it.
import { bytesText } from '../capacity-text.js';
import { readSecret } from '../config/secrets.js';
import type { GatewayStatus } from '../gateway/status.js';

/**
 * What `status` reads of /api/status once the gateway has started. The keys marked optional may be missing from a
 * gateway of another version (they print as "-", 0 or not at all).
 */
interface StatusReply {
  starting?: false;
  now?: string;
  site: { group: string; node: string };
  startedAt: string;
  ready?: { ready: boolean; reasons: string[] };
  sparkplug: {
    state: string; bdSeq: number | null; server: string; brokerClients: number | null; commandsRefused: number;
    servers?: readonly string[]; serverSwitches?: number; primaryHost?: { id: string; online: boolean } | null;
    writes?: number; retainedCommandsIgnored?: number; connectFailures?: number; held?: number;
  };
  uplink: {
    state: string; forwarded: number; lastAckAt: string | null; lastError: string | null; target?: string | null;
    client?: string | null; compression?: string | null; wireBytesPerSample?: number | null; throughput?: number;
    lastLatencyMs?: number | null; deadLettered?: number;
  };
  journal: {
    records: number; bytes: number; oldestAgeMs: number | null; nextSeq: number; captured?: number; captureRate?: number;
    waiting?: number; commitDueAt?: string | null; writeError?: string | null; capacity?: string; maxBytes?: number | null;
    maxBytesPercent?: number | null; roomBytes?: number | null; bytesPerSample?: number | null;
    dropped?: Record<string, number>; quarantined?: string | null;
  };
  devices: Array<{
    name: string; state: string; polls: number; errors: number; lastPollAt: string | null; lastError: string | null;
    tags?: Array<{ name: string; value: unknown; quality: string; timestamp: string }>;
  }>;
}

/** The answer (503) while the gateway starts: the journal may be waiting for disk space. */
interface StartingReply {
  starting: true;
  ready?: { reasons?: string[] };
}

// This gateway's own answer holds everything read above: a key renamed on the server fails the build here.
type Answers<T extends StatusReply> = T;
export type ServerAnswers = Answers<GatewayStatus>;

/** Exit 0 with the status on stdout; 1 while starting, when unreachable or when the login is refused; 2 without a password. */
export async function status(url: string, user: string | undefined, passwordFile: string | undefined): Promise<number> {
  const base = url.replace(/\/$/, '');
  let body: StatusReply | StartingReply;
  const headers: Record<string, string> = {};
  if (user !== undefined) {
    let password: string;
    try {
      password = passwordFile !== undefined ? readSecret({ password_file: passwordFile }, '--password-file') : readSecret({ password_env: 'EDGE_GATEWAY_PASSWORD' }, '--user');
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  try {
    const res = await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(3000), headers });
    if (res.status === 401) {
      process.stderr.write(user === undefined
        ? `the gateway at ${base} asks for a login (http.users): pass --user NAME, with the password in EDGE_GATEWAY_PASSWORD or --password-file FILE\n`
        : `the gateway at ${base} refused the login of "${user}": wrong user name or password\n`);
      return 1;
    }
    body = (await res.json()) as StatusReply | StartingReply;
  } catch (err) {
    process.stderr.write(`cannot reach the gateway at ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  if (body.starting) {
    process.stdout.write(`${['the gateway is starting, not ready yet:', ...(body.ready?.reasons ?? []).map((r: string) => `  ${r}`)].join('\n')}\n`);
    return 1;
  }
  process.stdout.write(`${formatStatus(body)}\n`);
  return 0;
}

/** The status for a terminal: the same as the status page, one line per part, one per tag. */
function formatStatus(body: StatusReply): string {
  const ms = (n: number | null | undefined) => (n === null || n === undefined ? '-' : n < 1000 ? `${Math.round(n)} ms` : `${Math.round(n / 1000)} s`);
  const now = Date.parse(body.now ?? '') || Date.now();
  const tagValue = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(6))) : String(v));
  const clients = (n: number | null) => (n === null ? 'external' : `embedded, ${n} ${n === 1 ? 'client' : 'clients'}`);
  const sp = body.sparkplug;
  const servers = sp.servers ?? [];
  const u = body.uplink;
  const j = body.journal;
  const lines = [
    `site        ${body.site.group}/${body.site.node}   since ${body.startedAt}`,
    `ready       ${body.ready?.ready === false ? `no: ${body.ready.reasons.join('; ')}` : 'yes'}`,
    `sparkplug   ${sp.state}  bdSeq ${sp.bdSeq}  broker ${sp.server} (${clients(sp.brokerClients)})` +
      `${servers.length > 1 ? ` server ${servers.indexOf(sp.server) + 1} of ${servers.length}, ${sp.serverSwitches} switches` : ''}` +
      `${sp.primaryHost ? `  primary host ${sp.primaryHost.id} ${sp.primaryHost.online ? 'online' : 'offline'}` : ''}` +
      `  writes ${sp.writes ?? 0}, refused ${sp.commandsRefused}${sp.retainedCommandsIgnored ? ` (${sp.retainedCommandsIgnored} retained ignored)` : ''}` +
      `${sp.connectFailures ? `  failed connects ${sp.connectFailures}` : ''}${sp.held ? `  held ${sp.held}` : ''}`,
    `uplink      ${u.state}  ${u.target ?? ''}${u.client ? `  ${u.client}/${u.compression}` : ''}  forwarded ${u.forwarded}${u.wireBytesPerSample != null ? `  ${u.wireBytesPerSample.toFixed(1)} B/sample on the wire` : ''}  ${u.throughput ?? 0}/s  last ack ${u.lastAckAt ?? '-'}  latency ${ms(u.lastLatencyMs)}${u.lastError ? `  last error: ${u.lastError}` : ''}`,
    `journal     ${j.records} records, ${j.bytes} bytes, oldest ${j.oldestAgeMs === null ? '-' : `${Math.round(j.oldestAgeMs / 1000)} s`} old, next edge.seq ${j.nextSeq}, captured ${j.captured ?? '-'} (${j.captureRate ?? 0}/s)${j.waiting ? `, ${j.waiting} waiting for the commit due ${j.commitDueAt}` : ''}${j.writeError ? `; ${j.writeError}` : ''}`,
    `capacity    ${j.capacity ?? '-'}${j.maxBytes ? `; bound ${j.maxBytesPercent ? `${j.maxBytesPercent}% of ${bytesText(j.roomBytes ?? 0)} room = ` : ''}${bytesText(j.maxBytes)}` : ''}${j.bytesPerSample ? `, ${Number(j.bytesPerSample).toFixed(1)} bytes per sample` : ''}`,
    `losses      dropped ${Object.entries(j.dropped ?? {}).filter(([, n]) => Number(n) > 0).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'}; dead letters ${u.deadLettered ?? 0}${j.quarantined ? `; corrupt journal moved to ${j.quarantined}` : ''}`,
    'devices',
  ];
  for (const d of body.devices) {
    lines.push(`  ${String(d.name).padEnd(20)} ${String(d.state).padEnd(8)} polls ${d.polls}  errors ${d.errors}  last ${d.lastPollAt ?? '-'}${d.lastError ? `  ${d.lastError}` : ''}`);
    const tags = d.tags ?? [];
    const width = Math.max(12, ...tags.map((t) => String(t.name).length));
    for (const t of tags) lines.push(`    ${String(t.name).padEnd(width)} ${tagValue(t.value).padStart(12)}  ${String(t.quality).padEnd(5)}  read ${ms(now - Date.parse(t.timestamp))} ago`);
  }
  return lines.join('\n');
}
