// The layout's rules, checked on the imports of src/ (product files; tests may reach across layers to compose what
// they test): drivers and uplink import nothing from edge, nor from each other, and no file imports itself round a
// cycle. Type-only imports count: a cycle of types is still a tangle for whoever reads the code.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');

type Graph = Map<string, string[]>;

function productFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) productFiles(path, out);
    else if (/\.ts$/.test(name) && !/\.test\.ts$/.test(name) && name !== 'test-fixtures.ts') out.push(path);
  }
  return out;
}

/** Each file's relative imports (import, export … from, import()), resolved to files under src/. */
function importGraph(root: string): Graph {
  const graph: Graph = new Map();
  for (const file of productFiles(root)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const deps: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName).replace(/\.js$/, '.ts');
      if (!existsSync(target)) throw new Error(`${relative(root, file)} imports ${fileName}, which is not a file under src/`);
      deps.push(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

const layerOf = (root: string, file: string) => relative(root, file).split('/')[0]!;

/** What each layer may import besides itself. */
const ALLOWED: Record<string, string[]> = { drivers: [], uplink: [], edge: ['drivers', 'uplink'] };

function layerViolations(root: string, graph: Graph): string[] {
  const out: string[] = [];
  for (const [file, deps] of graph) {
    const from = layerOf(root, file);
    for (const dep of deps) {
      const to = layerOf(root, dep);
      if (to !== from && !(ALLOWED[from] ?? []).includes(to)) out.push(`${relative(root, file)} -> ${relative(root, dep)}`);
    }
  }
  return out;
}

/** The graph's cycles: its strongly connected components of more than one file, or a file importing itself. */
function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import rules of the layout', () => {
  it('finds a cycle and a layer crossing when there is one (the checks can fail)', () => {
    const root = '/r';
    const g: Graph = new Map([
      ['/r/edge/a.ts', ['/r/edge/b.ts', '/r/drivers/x.ts']],
      ['/r/edge/b.ts', ['/r/edge/c.ts']],
      ['/r/edge/c.ts', ['/r/edge/a.ts']],
      ['/r/drivers/x.ts', ['/r/uplink/y.ts']],
      ['/r/uplink/y.ts', ['/r/edge/b.ts']],
    ]);
    expect(cycles(g).map((c) => c.map((f) => relative(root, f)))).toEqual([['drivers/x.ts', 'edge/a.ts', 'edge/b.ts', 'edge/c.ts', 'uplink/y.ts']]);
    expect(layerViolations(root, g)).toEqual(['drivers/x.ts -> uplink/y.ts', 'uplink/y.ts -> edge/b.ts']);
  });

  it('src/: drivers and uplink import nothing from edge or each other, and no import cycle', () => {
    const graph = importGraph(SRC);
    const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
    const perLayer = new Map<string, number>();
    for (const file of graph.keys()) perLayer.set(layerOf(SRC, file), (perLayer.get(layerOf(SRC, file)) ?? 0) + 1);
    const violations = layerViolations(SRC, graph);
    const found = cycles(graph).map((c) => c.map((f) => relative(SRC, f)).join(' -> '));
    console.log(
      `import walk of src/: ${graph.size} files (${[...perLayer].map(([l, n]) => `${l} ${n}`).join(', ')}), ${edges} relative imports; ` +
        `${violations.length} layer crossings, ${found.length} cycles`,
    );
    expect([...perLayer.keys()].sort()).toEqual(['drivers', 'edge', 'uplink']);
    expect(graph.size).toBeGreaterThan(100);
    expect(violations, 'imports that cross the layout (drivers and uplink are composed by edge, never the other way)').toEqual([]);
    expect(found, 'import cycles').toEqual([]);
  });
});
