// The native modules (better-sqlite3, unix-dgram, the librdkafka client) are built for one Node.js ABI. A Node
// upgrade under an installed gateway makes the first of them fail to load deep inside start-up, with a stack
// trace; this module loads them first, and turns an ABI mismatch into one sentence that says what to do.
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** NODE_MODULE_VERSION of each Node.js release line (https://nodejs.org/en/download/releases). */
const NODE_OF_ABI: Record<number, string> = { 108: '18', 111: '19', 115: '20', 120: '21', 127: '22', 131: '23', 137: '24', 141: '25' };

const nodeName = (abi: number) => (NODE_OF_ABI[abi] ? `Node.js ${NODE_OF_ABI[abi]}` : `NODE_MODULE_VERSION ${abi}`);

/** The release folder (/opt/edge-gateway): two levels above dist/edge/service. */
export const RELEASE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The sentence for a load error of a native module, or undefined when the error is not an ABI mismatch. Node
 * says "…was compiled against a different Node.js version using NODE_MODULE_VERSION 127. This version of Node.js
 * requires NODE_MODULE_VERSION 115…".
 */
export function abiMismatchSentence(moduleName: string, err: unknown, releaseDir = RELEASE_DIR): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const built = /using\s+NODE_MODULE_VERSION\s+(\d+)/.exec(message);
  if (!built) return undefined;
  const builtAbi = Number(built[1]);
  const running = Number(process.versions.modules);
  return (
    `edge-gateway: the native module ${moduleName} was built for ${nodeName(builtAbi)} but this is Node.js ` +
    `${process.versions.node} (NODE_MODULE_VERSION ${running}); install the edge-gateway package built for ` +
    `Node.js ${process.versions.node.split('.')[0]}, or rebuild the modules for this Node with ` +
    `"cd ${releaseDir} && npm rebuild" (a C++ compiler is needed), or go back to ${nodeName(builtAbi)}.`
  );
}

/** Loaders of the native modules, each as the gateway itself loads it. */
const NATIVE: Array<{ name: string; optional: boolean; load: (req: NodeJS.Require) => void }> = [
  {
    name: 'better-sqlite3',
    optional: false,
    load: (req) => {
      // The addon loads with the first database, not with the package.
      const Database = req('better-sqlite3') as new (file: string) => { close(): void };
      new Database(':memory:').close();
    },
  },
  { name: 'unix-dgram', optional: true, load: (req) => req('unix-dgram') },
  { name: '@confluentinc/kafka-javascript', optional: true, load: (req) => req('@confluentinc/kafka-javascript') },
];

/**
 * Loads every native module; on an ABI mismatch prints the sentence and ends the process with exit code 1.
 * Other load errors are left to the code that needs the module (an optional one missing is normal).
 */
export function checkNativeModules(fromUrl: string = import.meta.url): void {
  const req = createRequire(fromUrl);
  for (const m of NATIVE) {
    try {
      m.load(req);
    } catch (err) {
      const sentence = abiMismatchSentence(m.name, err);
      if (sentence) {
        process.stderr.write(`${sentence}\n`);
        process.exit(1);
      }
    }
  }
}
