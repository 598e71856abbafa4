// Topic access rules for the site broker: MQTT topic filters ([MQTT-4.7]) matched against publish topics and
// against subscription filters, and the Sparkplug command topics that only users allowed to command may write.

/** Why a filter is not a valid MQTT topic filter, or undefined when it is. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'an empty topic filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    // [MQTT-4.7.1-2] '#' alone, as the last level; [MQTT-4.7.1-3] '+' alone in its level.
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return `"${filter}": "#" must stand alone as the last level`;
    if (level.includes('+') && level !== '+') return `"${filter}": "+" must stand alone in its level`;
  }
  return undefined;
}

/** Does `filter` (which may hold wildcards) match the concrete topic `topic`? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Is every topic the subscription filter `wanted` can match also matched by the allowed filter `allowed`? */
export function filterCovers(allowed: string, wanted: string): boolean {
  const a = allowed.split('/');
  const w = wanted.split('/');
  if (wanted.startsWith('$') !== allowed.startsWith('$') && (a[0] === '#' || a[0] === '+')) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return true;
    if (i >= w.length) return false;
    if (w[i] === '#') return false;
    if (a[i] === '+') continue;
    if (w[i] === '+' || a[i] !== w[i]) return false;
  }
  return a.length === w.length;
}

/** Sparkplug NCMD and DCMD: spBv1.0/<group>/NCMD/<node> and spBv1.0/<group>/DCMD/<node>/<device>. */
export function isSparkplugCommand(topic: string): boolean {
  const parts = topic.split('/');
  return parts[0] === 'spBv1.0' && (parts[2] === 'NCMD' || parts[2] === 'DCMD');
}

export interface TopicRights {
  publish: readonly string[];
  subscribe: readonly string[];
  /** May publish Sparkplug NCMD/DCMD (whatever `publish` says). */
  command: boolean;
}

export const ALL_RIGHTS: TopicRights = { publish: ['#'], subscribe: ['#'], command: true };
export const NO_RIGHTS: TopicRights = { publish: [], subscribe: [], command: false };

/** NCMD/DCMD need `command`; every other topic needs a matching `publish` filter. */
export function mayPublish(rights: TopicRights, topic: string): boolean {
  if (isSparkplugCommand(topic)) return rights.command;
  return rights.publish.some((f) => topicMatches(f, topic));
}

export function maySubscribe(rights: TopicRights, filter: string): boolean {
  return rights.subscribe.some((allowed) => filterCovers(allowed, filter));
}

/**
 * May a message on `topic` be delivered to a client with these rights? Always so for a subscription that
 * `maySubscribe` granted; after a reload narrowed the rights, an older subscription delivers only what they allow.
 */
export function mayReceive(rights: TopicRights, topic: string): boolean {
  return rights.subscribe.some((allowed) => topicMatches(allowed, topic));
}

/** What the gateway's own edge node does on the broker: its births, data and deaths; its commands and STATE. */
export function edgeNodeRights(group: string, node: string): TopicRights {
  return {
    publish: [`spBv1.0/${group}/+/${node}`, `spBv1.0/${group}/+/${node}/+`],
    subscribe: [`spBv1.0/${group}/NCMD/${node}`, `spBv1.0/${group}/DCMD/${node}/+`, 'spBv1.0/STATE/+'],
    command: false,
  };
}

/** What a user named by `broker.node_user` lacks to serve as the edge node `group`/`node` (empty when nothing). */
export function missingEdgeNodeRights(rights: TopicRights, group: string, node: string): string[] {
  const missing: string[] = [];
  for (const verb of ['NBIRTH', 'NDEATH']) {
    const topic = `spBv1.0/${group}/${verb}/${node}`;
    if (!mayPublish(rights, topic)) missing.push(`publish ${topic}`);
  }
  for (const verb of ['DBIRTH', 'DDATA', 'DDEATH']) {
    const topic = `spBv1.0/${group}/${verb}/${node}/<device>`;
    if (!mayPublish(rights, topic.replace('<device>', 'd'))) missing.push(`publish ${topic}`);
  }
  for (const filter of [`spBv1.0/${group}/NCMD/${node}`, `spBv1.0/${group}/DCMD/${node}/+`]) {
    if (!maySubscribe(rights, filter)) missing.push(`subscribe ${filter}`);
  }
  return missing;
}
