// The journal's capacity in hours: what a plant engineer asks before an outage, not after.

/**
 * Journal bytes one sample takes, for a plan not yet running (`validate`): the compact record format's cost of a
 * sample in a record of `metricsPerRecord` metrics, row overhead included.
 */
export function estimatedBytesPerSample(metricsPerRecord: number): number {
  const perRecord = 24; // seq, capture time, kind, checksum, the row's SQLite overhead and the device reference
  const perSample = 8; // metric reference, header byte, a 4-byte float or small integer, page slack
  return perSample + perRecord / Math.max(1, metricsPerRecord);
}

/** Hours of capture that `maxBytes` holds at `samplesPerSec`; null when nothing is captured. */
export function capacityHours(maxBytes: number, bytesPerSample: number, samplesPerSec: number): number | null {
  if (!(samplesPerSec > 0) || !(bytesPerSample > 0)) return null;
  return maxBytes / bytesPerSample / samplesPerSec / 3600;
}
