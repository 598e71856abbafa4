// config/gateway.schema.json is generated from the zod schema: it must be current, and it must accept the shipped
// example and reject what `validate` rejects, so editors say the same as the gateway.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText } from '../src/edge/config/json-schema.js';
import { ROOT } from './helpers/cli.js';

describe('config/gateway.schema.json', () => {
  it('is the schema generated from the code (run `npm run schema` after changing config keys)', () => {
    expect(readFileSync(join(ROOT, 'config/gateway.schema.json'), 'utf8')).toBe(configJsonSchemaText());
  });

  it('describes the shipped example: every key of it is a property of the schema', () => {
    const schema = JSON.parse(configJsonSchemaText());
    const example = parse(readFileSync(join(ROOT, 'config/gateway.yaml'), 'utf8'));
    for (const key of Object.keys(example)) expect(Object.keys(schema.properties)).toContain(key);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['site']);
    expect(readFileSync(join(ROOT, 'config/gateway.yaml'), 'utf8')).toMatch(/yaml-language-server: \$schema=\.\/gateway\.schema\.json/);
  });
});
