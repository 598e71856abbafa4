// Limits of the site broker that the config schema and the broker share (broker.max_packet_bytes, .connect_timeout).

/** Eight times a 10,000-metric Sparkplug birth with long names and string values (about 2 MB). */
export const DEFAULT_MAX_PACKET_BYTES = 16 * 1024 ** 2;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
