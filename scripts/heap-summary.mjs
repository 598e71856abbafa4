// Where a V8 heap snapshot's bytes are: self sizes summed by constructor (objects) or by kind (strings, arrays,
// code, closures), largest first. `node scripts/heap-summary.mjs FILE.heapsnapshot [N]`; bench-memory.mjs uses it
// on the snapshots it has the gateway write (node --heapsnapshot-signal). `… FILE --retainers GROUP [N]`: what
// holds that group's objects.
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

/**
 * What holds the objects of one group (`Buffer`, `(strings)`, `(array: (object elements))`): the holders' names
 * and the edges' names, by the bytes they hold directly.
 */
export function retainers(file, group, top = 20) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const { node_fields: fields, node_types: nodeTypes, edge_fields: edgeFields, edge_types: edgeTypes } = snap.snapshot.meta;
  const types = nodeTypes[0];
  const width = fields.length;
  const ewidth = edgeFields.length;
  const [TYPE, NAME, SIZE, EDGES] = ['type', 'name', 'self_size', 'edge_count'].map((f) => fields.indexOf(f));
  const [ETYPE, ENAME, ETO] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
  const { nodes, edges, strings } = snap;
  const groupOf = (i) => {
    const type = types[nodes[i + TYPE]];
    if (type === 'object' || type === 'native') return strings[nodes[i + NAME]];
    if (type === 'closure') return '(closures)';
    if (type.endsWith('string')) return '(strings)';
    return `(${type}${type === 'array' || type === 'hidden' ? `: ${strings[nodes[i + NAME]]}` : ''})`;
  };
  const by = new Map();
  let e = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const owner = groupOf(i);
    for (let k = 0; k < nodes[i + EDGES]; k++, e += ewidth) {
      const to = edges[e + ETO];
      if (edgeTypes[0][edges[e + ETYPE]] === 'weak' || groupOf(to) !== group) continue;
      const etype = edgeTypes[0][edges[e + ETYPE]];
      const ename = etype === 'element' || etype === 'hidden' ? `[${etype}]` : strings[edges[e + ENAME]];
      const key = `${owner.slice(0, 50)} .${ename}`;
      const g = by.get(key) ?? { key, count: 0, bytes: 0 };
      g.count += 1;
      g.bytes += nodes[to + SIZE];
      by.set(key, g);
    }
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top).map((g) => ({ holder: g.key, count: g.count, MiB: Math.round((g.bytes / 1024 ** 2) * 100) / 100 }));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[3] === '--retainers') {
  for (const r of retainers(process.argv[2], process.argv[4], Number(process.argv[5] ?? 20))) console.log(`${String(r.MiB).padStart(8)} MiB ${String(r.count).padStart(10)}  ${r.holder}`);
} else if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = summarise(process.argv[2], Number(process.argv[3] ?? 20));
  console.log(`${s.totalMiB} MiB in ${s.nodes} objects`);
  for (const row of s.top) console.log(`${String(row.MiB).padStart(8)} MiB ${String(row.count).padStart(10)}  ${row.name}`);
}
