// [tck-id-topic-structure] namespace/group_id/message_type/edge_node_id[/device_id]
// [tck-id-topic-structure-namespace-a] the namespace is literally spBv1.0
export const NAMESPACE = 'spBv1.0';

/** The MQTT client id the edge node connects with; the site broker keeps it for the node's own login. */
export function edgeNodeClientId(group: string, node: string): string {
  return `edge-gateway:${group}:${node}`;
}

export type NodeVerb = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD';
export type DeviceVerb = 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD';
export type Verb = NodeVerb | DeviceVerb;

// [tck-id-topic-structure-namespace-device-id-non-associated-message-types]
export function nodeTopic(group: string, verb: NodeVerb, node: string): string {
  return `${NAMESPACE}/${group}/${verb}/${node}`;
}

// [tck-id-topic-structure-namespace-device-id-associated-message-types]
export function deviceTopic(group: string, verb: DeviceVerb, node: string, device: string): string {
  return `${NAMESPACE}/${group}/${verb}/${node}/${device}`;
}

export interface ParsedTopic {
  group: string;
  verb: Verb;
  node: string;
  device?: string;
}

export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== NAMESPACE || parts.length < 4 || parts.length > 5) return undefined;
  const [, group, verb, node, device] = parts as [string, string, Verb, string, string | undefined];
  return device === undefined ? { group, verb, node } : { group, verb, node, device };
}
