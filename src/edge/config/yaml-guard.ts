// Bounds on what a config file may cost to read: its size, its text encoding, how deep it nests and how far its
// aliases expand. A file beyond them is a problem at a place in the file, never a crash of `validate` or `run`.
import { closeSync, openSync, readSync } from 'node:fs';
import { CST, isAlias, isCollection, isPair, isScalar, Lexer, visit, type Document, type Node } from 'yaml';

/** A config is a few kilobytes; a generated one for a large site a few hundred. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** The config nests about six levels (devices → tags → a tag's keys); the YAML composer recurses per level. */
export const MAX_DEPTH = 64;
/**
 * Aliases repeat a block (`<<: *tag_defaults`); an alias of an alias multiplies ("billion laughs"). Values the file
 * may hold once every alias is expanded, and the `yaml` library's own `maxAliasCount` behind that.
 */
export const MAX_EXPANDED_VALUES = 100_000;

/** A problem found before the document exists: `offset` into the text, or a line and column of the raw bytes. */
export interface EarlyProblem {
  offset?: number;
  line?: number;
  col?: number;
  path: string;
  message: string;
}

/** Reads at most MAX_FILE_BYTES + 1 bytes, so that /dev/zero or a runaway generated file cannot exhaust memory. */
export function readConfigText(file: string): { text: string } | { problem: EarlyProblem } {
  let bytes: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const chunk = Buffer.alloc(Math.min(1024 * 1024, MAX_FILE_BYTES + 1 - total));
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        total += n;
        if (total > MAX_FILE_BYTES) {
          return { problem: { line: 1, col: 1, path: '', message: `the file is larger than ${MAX_FILE_BYTES} bytes; a configuration is at most ${MAX_FILE_BYTES / 1024 / 1024} MiB` } };
        }
      }
      bytes = Buffer.concat(chunks);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { problem: { line: 1, col: 1, path: '', message: `cannot read the file: ${(err as Error).message}` } };
  }
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD')) {
    const bad = firstInvalidUtf8(bytes);
    if (bad >= 0) {
      // lastIndexOf counts a negative offset from the end: a bad first byte starts line 1 itself.
      const lineStart = bad === 0 ? 0 : bytes.lastIndexOf(0x0a, bad - 1) + 1;
      const line = bytes.subarray(0, lineStart).filter((b) => b === 0x0a).length + 1;
      return {
        problem: {
          line,
          col: bad - lineStart + 1,
          path: '',
          message: `the file is not UTF-8 text: byte 0x${bytes[bad]!.toString(16).toUpperCase().padStart(2, '0')} cannot start or continue a character (save the file as UTF-8)`,
        },
      };
    }
  }
  return { text };
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence; -1 when there is none. */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    const d = b[i + 1]!;
    if ((c === 0xe0 && d < 0xa0) || (c === 0xed && d > 0x9f) || (c === 0xf0 && d < 0x90) || (c === 0xf4 && d > 0x8f)) return i;
    i += len;
  }
  return -1;
}

/**
 * How deep the text nests, from the lexer's tokens (which need no recursion): flow brackets, plus the block
 * indentation levels and the `- `/`? `/`: ` indicators that open a level on the same line. The first place deeper
 * than MAX_DEPTH is a problem, found before the composer would run out of stack on it.
 */
export function nestingProblem(text: string): EarlyProblem | undefined {
  let offset = 0;
  let flow = 0;
  const indents: number[] = [];
  let lineIndicators = 0;
  let atLineStart = true;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'newline') {
      atLineStart = true;
      lineIndicators = 0;
    } else if (atLineStart && type !== 'byte-order-mark' && type !== 'doc-mode') {
      // Inside brackets, line breaks and indentation mean nothing.
      if (flow === 0) {
        const indent = type === 'space' ? token.length : 0;
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
      }
      atLineStart = false;
    }
    if (type === 'flow-map-start' || type === 'flow-seq-start') flow += 1;
    else if ((type === 'flow-map-end' || type === 'flow-seq-end') && flow > 0) flow -= 1;
    else if (flow === 0 && (type === 'seq-item-ind' || type === 'explicit-key-ind' || type === 'map-value-ind')) lineIndicators += 1;
    if (flow + indents.length + lineIndicators > MAX_DEPTH) {
      return { offset, path: '', message: `YAML nests deeper than ${MAX_DEPTH} levels here; a configuration needs fewer than ten` };
    }
    offset += token.length;
  }
  return undefined;
}

const sourcesOf = new WeakMap<Document, Map<Node, Node>>();

/**
 * The node each alias repeats (the last anchor of its name before it, as the library resolves it), found in one
 * pass and kept per document: the library's own `resolve` walks the whole document for every alias it is asked.
 */
export function aliasSource(doc: Document, alias: Node): Node | undefined {
  let sources = sourcesOf.get(doc);
  if (!sources) {
    sources = new Map();
    const anchors = new Map<string, Node>();
    const found = sources;
    visit(doc, {
      Node(_key, node) {
        if (isAlias(node)) {
          const source = anchors.get(node.source);
          if (source) found.set(node, source);
        } else if (node.anchor) anchors.set(node.anchor, node);
      },
    });
    sourcesOf.set(doc, sources);
  }
  return sources.get(alias);
}

/**
 * Every alias must name an anchor set before it, must not sit inside the node it repeats, and all of them together
 * may expand the file to at most MAX_EXPANDED_VALUES values. Checked on the document before it becomes data, in
 * one pass and without recursion.
 */
export function aliasProblems(doc: Document, pathOf: (ancestors: readonly unknown[]) => string): EarlyProblem[] {
  const problems: EarlyProblem[] = [];
  const anchors = new Map<string, Node>();
  const sources = new Map<Node, Node>(); // alias → the node it repeats
  const paths = new Map<Node, string>();
  let aliases = 0;
  visit(doc, {
    Node(_key, node, ancestors) {
      if (isAlias(node)) {
        aliases += 1;
        const source = anchors.get(node.source);
        const at = { offset: node.range?.[0] ?? 0, path: pathOf([...ancestors, node]) };
        if (!source) problems.push({ ...at, message: `YAML alias *${node.source} names no anchor &${node.source} set before it` });
        else if (ancestors.includes(source as never)) problems.push({ ...at, message: `YAML alias *${node.source} sits inside the node it repeats (&${node.source}), which would never end` });
        else {
          sources.set(node, source);
          paths.set(node, at.path);
        }
        return;
      }
      if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  sourcesOf.set(doc, sources);
  if (aliases === 0 || problems.length > 0) return problems;

  // Expanded size of every node, children before parents; an alias's source always comes before it.
  const size = new Map<unknown, number>();
  const stack: Array<{ node: unknown; done: boolean }> = [{ node: doc.contents, done: false }];
  let biggest: { alias: Node; values: number } | undefined;
  while (stack.length > 0) {
    const top = stack.pop()!;
    const n = top.node;
    if (n === null || n === undefined || size.has(n)) continue;
    const children = isCollection(n) ? n.items : isPair(n) ? [n.key, n.value] : [];
    if (!top.done) {
      stack.push({ node: n, done: true });
      for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i], done: false }); // popped in document order
      continue;
    }
    let values: number;
    if (isAlias(n)) {
      values = size.get(sources.get(n)) ?? 1;
      if (!biggest || values > biggest.values) biggest = { alias: n, values };
    } else {
      values = isScalar(n) || isCollection(n) ? 1 : 0;
      for (const c of children) values += size.get(c) ?? 0;
    }
    size.set(n, Math.min(values, Number.MAX_SAFE_INTEGER));
  }
  const total = size.get(doc.contents) ?? 0;
  if (total > MAX_EXPANDED_VALUES && biggest) {
    const alias = biggest.alias as Node & { source: string };
    return [{ offset: alias.range?.[0] ?? 0, path: paths.get(alias) ?? '', message: `YAML aliases expand this file to ${total} values, more than the ${MAX_EXPANDED_VALUES} allowed (an alias of an alias multiplies); *${alias.source} alone repeats ${biggest.values}` }];
  }
  return [];
}
