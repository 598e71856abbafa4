// The tag model's keys: deadband, heartbeat. Every driver's tag schema includes `tagModelKeys`, and its device
// schema `deviceTagModelKeys`, the device-wide defaults; what a tag sets wins over its device's default.
import { z } from 'zod';
import { durationSchema } from './duration.js';

const deadband_percent = z.number().min(0, 'must be 0 (off) to 100 percent').max(100, 'must be 0 (off) to 100 percent').optional();
const heartbeat = durationSchema.optional();

export const tagModelKeys = {
  /** Absolute deadband in engineering units: a number is reported when it moved more than this. */
  deadband: z.number().min(0, 'must be 0 (report every change) or more, in engineering units').optional(),
  /** Deadband in percent of the last reported value. */
  deadband_percent,
  /** Republish an unchanged value after this long. */
  heartbeat,
};

/** Device-wide defaults. An absolute deadband has the units of one tag, so it is set per tag only. */
export const deviceTagModelKeys = { deadband_percent, heartbeat };

export interface TagModelKeys {
  deadband?: number | undefined;
  deadband_percent?: number | undefined;
  heartbeat?: number | undefined;
}
