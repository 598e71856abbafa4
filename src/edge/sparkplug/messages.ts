// The messages the edge node makes (each one goes to the journal, and to MQTT when the session is up), and the
// definition of a device metric that births declare and commands are checked against.
import type { Payload } from './codec.js';
import type { SparkplugDataType } from './datatypes.js';

export type MessageKind = 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDATA' | 'DDEATH';

export interface EdgeMessage {
  kind: MessageKind;
  device?: string;
  payload: Payload;
}

export interface DeviceMetricDef {
  name: string;
  datatype: SparkplugDataType;
  writable: boolean;
  /** The engineering unit, declared in every DBIRTH as the metric's engUnit property. */
  unit?: string | undefined;
}
