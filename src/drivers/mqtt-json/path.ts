// Paths into a JSON message: one small syntax, documented in README.md. Pure, so the config schema can check
// paths before anything connects.
//
//   temp                 the key "temp" at the top of the message
//   sensors.0.value      "sensors", its element 0 (arrays count from 0), then "value"
//   sensors[0].value     the same; a leading "$." is accepted too ($.sensors[0].value)
//   $                    the whole message (a device that publishes a bare number)

/** The keys from the top of the message; a key of digits also indexes an array. */
export type JsonPath = readonly string[];

/** The path's keys, or a message saying what is wrong with it. */
export function parsePath(text: string): JsonPath | string {
  let rest = text.trim();
  if (rest === '$') return [];
  if (rest.startsWith('$.') || rest.startsWith('$[')) rest = rest.slice(rest[1] === '.' ? 2 : 1);
  const keys: string[] = [];
  const bad = (why: string) => `${JSON.stringify(text)} is not a path: ${why} (examples: temp, sensors.0.value, $ for the whole message)`;
  if (rest === '') return bad('it is empty');
  let i = 0;
  let afterKey = false;
  while (i < rest.length) {
    if (rest[i] === '[') {
      const m = /^\[(\d+)\]/.exec(rest.slice(i));
      if (!m) return bad(`"[" must be followed by an array index and "]", as in sensors[0]`);
      keys.push(m[1]!);
      i += m[0].length;
      afterKey = true;
      continue;
    }
    if (afterKey) {
      if (rest[i] !== '.') return bad(`expected "." or "[" after ${JSON.stringify(keys[keys.length - 1])}`);
      i++;
    }
    const m = /^[^.[\]]+/.exec(rest.slice(i));
    if (!m) return bad(i >= rest.length ? 'it ends with "."' : 'an empty key (two dots in a row, or a dot before "[")');
    keys.push(m[0]);
    i += m[0].length;
    afterKey = true;
  }
  return keys;
}

export type Lookup = { found: true; value: unknown } | { found: false; why: string };

/** The value at `path` in a parsed message; `why` says where the walk stopped. */
export function readPath(doc: unknown, path: JsonPath): Lookup {
  let at: unknown = doc;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const here = i === 0 ? 'the message' : JSON.stringify(path.slice(0, i).join('.'));
    if (Array.isArray(at)) {
      if (!/^\d+$/.test(key)) return { found: false, why: `${here} is an array; "${key}" is not an index` };
      if (Number(key) >= at.length) return { found: false, why: `${here} has ${at.length} element${at.length === 1 ? '' : 's'}` };
      at = at[Number(key)];
    } else if (typeof at === 'object' && at !== null) {
      if (!Object.prototype.hasOwnProperty.call(at, key)) return { found: false, why: `${here} has no key "${key}"` };
      at = (at as Record<string, unknown>)[key];
    } else {
      return { found: false, why: `${here} is ${describeJson(at)}, not an object` };
    }
  }
  return { found: true, value: at };
}

/** A JSON value in a few words, for messages: `"hot"`, `21.5`, `an object`, `null`. */
export function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
