// The config keys every driver's devices share: the name that becomes a Sparkplug device id, and the tag types.
import { z } from 'zod';

// Sparkplug ids end up in MQTT topics: [tck-id-topic-structure-namespace-valid-group-id]
// [tck-id-topic-structure-namespace-valid-edge-node-id] [tck-id-topic-structure-namespace-valid-device-id]
export const sparkplugId = z
  .string()
  .min(1)
  .regex(/^[^+/#]+$/, 'must not contain "+", "/" or "#" (it becomes part of an MQTT topic)');

/** The value types of a tag, as its driver decodes them (each maps to a Sparkplug datatype). */
export const TAG_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type TagType = (typeof TAG_TYPES)[number];
