// Drop-in device files: `conf.d/*.yaml` beside the main config, each holding `devices:` and nothing else, so that a
// site adds a production line (or a package ships its devices) without editing gateway.yaml. Their devices follow
// the main file's, in file-name order; every problem names the drop-in it comes from (load.ts).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DROP_IN_DIR = 'conf.d';

/** The one key a drop-in may hold. */
const DEVICES = 'devices';

/** `dirname(configFile)/conf.d`, in the form the config's own path was given (relative stays relative). */
export function dropInDir(configFile: string): string {
  return join(dirname(configFile), DROP_IN_DIR);
}

/**
 * A drop-in's file name: `*.yaml` or `*.yml`, not hidden. Editors' and package managers' leftovers
 * (`x.yaml~`, `x.yaml.dpkg-dist`, `x.yaml.disabled`, `.x.yaml.swp`) and READMEs are not read.
 */
export function isDropInName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/.test(name);
}

/** Byte order of the names' UTF-8, as `ls` sorts them under LC_ALL=C: the order is the same on every machine. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The drop-ins beside `configFile`, in the order their devices merge. No directory means none. A directory entry
 * is skipped; anything else with a drop-in's name is listed, so that one that cannot be read (a dangling
 * symbolic link, a file without read permission) is a problem at that file rather than devices missing silently.
 */
export function listDropIns(configFile: string): { files: string[] } | { problem: { file: string; message: string } } {
  const dir = dropInDir(configFile);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { files: [] };
    const why = code === 'ENOTDIR' ? `${dir} is not a directory (drop-in device files go in a directory ${DROP_IN_DIR} beside the config)` : (err as Error).message;
    return { problem: { file: dir, message: `cannot read the drop-in directory: ${why}` } };
  }
  const files = names
    .filter(isDropInName)
    .sort(byteOrder)
    .map((name) => join(dir, name))
    .filter((file) => !isDirectory(file));
  return { files };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A problem with a drop-in's shape: at `key` of the map at `path` when `key` is given, else at `path`. */
export interface ShapeProblem {
  path: (string | number)[];
  key?: string;
  message: string;
}

/**
 * A drop-in's devices, from the file's value (after YAML, aliases and `${VAR}`), and what is wrong with its shape.
 * An empty file holds no devices; a key other than `devices` is a problem at that key and is not applied.
 */
export function dropInDevices(value: unknown, mainFile: string): { devices: unknown[]; problems: ShapeProblem[] } {
  if (value === null || value === undefined) return { devices: [], problems: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { devices: [], problems: [{ path: [], message: `a drop-in in ${DROP_IN_DIR} is a map holding "${DEVICES}:", a list of devices as in ${mainFile}` }] };
  }
  const problems: ShapeProblem[] = Object.keys(value)
    .filter((key) => key !== DEVICES)
    .map((key) => ({ path: [], key, message: `a drop-in in ${DROP_IN_DIR} holds "${DEVICES}" only; this key belongs in ${mainFile}` }));
  const devices = (value as Record<string, unknown>)[DEVICES];
  if (devices === undefined) return { devices: [], problems };
  if (!Array.isArray(devices)) {
    problems.push({ path: [DEVICES], message: `expected a list of devices (- name: …), as under "${DEVICES}:" in ${mainFile}` });
    return { devices: [], problems };
  }
  return { devices, problems };
}
