// The version of the Kafka record contract (README, "The Kafka record contract"), sent as the `edge.schema` header
// on every record. config/kafka-record.schema.json, the JSON Schema of the record's value, carries the same number
// as its `version` (a test checks that they agree). It goes up with any change of a value's shape: the schema
// names every field (it refuses unknown ones), so a value of version N always passes the schema of version N.
export const RECORD_SCHEMA_VERSION = 1;

/** The header naming the contract version, beside `edge.node`, `edge.seq` and `edge.historical`. */
export const RECORD_SCHEMA_HEADER = 'edge.schema';
