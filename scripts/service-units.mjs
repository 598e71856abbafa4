#!/usr/bin/env node
// The systemd units a configuration asks for, one per line, in start order: the broker's own unit and the
// gateway's when broker.embedded is false, the gateway's alone otherwise (also when the file cannot be read:
// then the gateway unit's ExecStartPre validate says what is wrong with it). Used by scripts/install.sh and
// by the .deb's maintainer scripts.
//   node scripts/service-units.mjs /etc/edge-gateway/gateway.yaml
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

let embedded = true;
try {
  const config = parse(readFileSync(process.argv[2] ?? '/etc/edge-gateway/gateway.yaml', 'utf8'), { maxAliasCount: 100 });
  embedded = config?.broker?.embedded !== false;
} catch {
  embedded = true;
}
process.stdout.write(embedded ? 'edge-gateway.service\n' : 'edge-gateway-broker.service\nedge-gateway.service\n');
