#!/usr/bin/env node
// Writes config/gateway.schema.json from the config schema (run after `npm run build`; `npm run schema` does both).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchemaText } from '../dist/edge/config/json-schema.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'gateway.schema.json');
writeFileSync(out, configJsonSchemaText());
console.log(`wrote ${out}`);
