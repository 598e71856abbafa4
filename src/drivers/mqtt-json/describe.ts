// Where an mqtt-json tag's value came from: the message's topic (or the tag's filters) and the JSON path.
import type { Sample, TagDescription } from '../types.js';
import type { MqttJsonDeviceConfig } from './config.js';

export function describeMqttJsonTag(device: MqttJsonDeviceConfig, sample: Sample): TagDescription {
  const tag = device.tags.find((t) => t.name === sample.tag);
  const topic = sample.raw && 'topic' in sample.raw ? sample.raw.topic : (tag?.topic ?? device.topic.join(', '));
  const fields: TagDescription['fields'] = { topic };
  if (tag?.path !== undefined) fields.path = tag.path;
  return { fields, where: `${topic} ${tag?.path ?? ''}`.trim() };
}
