// MQTT topic filters: the checks the config applies and the matching the driver does per message.

/** undefined when `filter` is a valid MQTT topic filter, else what is wrong with it. */
export function checkTopicFilter(filter: string): string | undefined {
  if (filter.length === 0) return 'a topic filter cannot be empty';
  if (Buffer.byteLength(filter, 'utf8') > 65535) return 'a topic filter is at most 65535 bytes';
  if (filter.includes('\u0000')) return 'a topic filter cannot contain a NUL character';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return `"#" must be a whole level and the last one, as in plant/boiler/#`;
    if (level.includes('+') && level !== '+') return `"+" must be a whole level, as in plant/+/state`;
  }
  // The edge node publishes there itself; its protobuf messages are not JSON.
  if (levels[0] === 'spBv1.0') return 'spBv1.0/… is the Sparkplug namespace, where the gateway itself publishes';
  return undefined;
}

/** Whether `topic` (a concrete topic) matches `filter` (MQTT 3.1.1 section 4.7). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics starting with "$".
  if ((f[0] === '#' || f[0] === '+') && topic.startsWith('$')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // also matches the parent level: plant/# matches plant
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
