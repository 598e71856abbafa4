// The config's JSON Schema, generated from the one zod schema, so editors complete and check gateway.yaml.
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://edge-gateway.local/gateway.schema.json',
    title: 'edge-gateway configuration',
    description: 'gateway.yaml: validate with `edge-gateway validate --config FILE`. Values may use ${VAR} and ${VAR:-default}.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
