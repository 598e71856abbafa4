// Where a V8 heap snapshot's bytes are: self sizes summed by constructor (objects) or by kind (strings, arrays,
// code, closures), largest first. `node scripts/heap-summary.mjs FILE.heapsnapshot [N]`; bench-memory.mjs uses it
// on the snapshots it has the gateway write (node --heapsnapshot-signal).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `top` largest groups and the totals of a snapshot file. */
export function summarise(file, top = 20) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const TYPE = fields.indexOf('type');
  const NAME = fields.indexOf('name');
  const SIZE = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + TYPE]];
    const size = nodes[i + SIZE];
    total += size;
    let name;
    if (type === 'object' || type === 'native') name = strings[nodes[i + NAME]];
    else if (type === 'closure') name = '(closures)';
    else if (type.endsWith('string')) name = '(strings)';
    else name = `(${type}${type === 'array' || type === 'hidden' ? `: ${strings[nodes[i + NAME]]}` : ''})`;
    const g = groups.get(name) ?? { name, count: 0, bytes: 0 };
    g.count += 1;
    g.bytes += size;
    groups.set(name, g);
  }
  const sorted = [...groups.values()].sort((a, b) => b.bytes - a.bytes);
  const mib = (b) => Math.round((b / 1024 ** 2) * 10) / 10;
  return { totalMiB: mib(total), nodes: nodes.length / width, top: sorted.slice(0, top).map((g) => ({ name: g.name.slice(0, 80), count: g.count, MiB: mib(g.bytes) })) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = summarise(process.argv[2], Number(process.argv[3] ?? 20));
  console.log(`${s.totalMiB} MiB in ${s.nodes} objects`);
  for (const row of s.top) console.log(`${String(row.MiB).padStart(8)} MiB ${String(row.count).padStart(10)}  ${row.name}`);
}
