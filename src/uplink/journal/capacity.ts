// The journal's capacity in hours: what a plant engineer asks before an outage, not after.

/**
 * Journal bytes one sample takes, for a plan not yet running (`validate`): the compact record format's cost of a
 * sample in a record of `metricsPerRecord` metrics, row overhead included.
 */
export function estimatedBytesPerSample(metricsPerRecord: number): number {
  const perRecord = 30; // source, time delta, metric count, and the row's columns and SQLite overhead
  const perSample = 6; // metric number, header byte, a 4-byte float (a small integer takes less)
  return perSample + perRecord / Math.max(1, metricsPerRecord);
}

/** Hours of capture that `maxBytes` holds at `samplesPerSec`; null when nothing is captured. */
export function capacityHours(maxBytes: number, bytesPerSample: number, samplesPerSec: number): number | null {
  if (!(samplesPerSec > 0) || !(bytesPerSample > 0)) return null;
  return maxBytes / bytesPerSample / samplesPerSec / 3600;
}
