// Every integer datatype at its extremes, as our encoder writes it, read back by two decoders nobody on the
// project wrote: Eclipse Tahu's (Java, scripts/tahu.sh run --decode) and pysparkplug's (Python, from PyPI).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePayload, type Metric } from '../src/edge/sparkplug/codec.js';
import { ROOT } from './helpers/cli.js';
import { peerPython } from './helpers/python-peer.js';

const EXTREMES: Array<[Metric['datatype'], bigint[]]> = [
  ['Int8', [-128n, -1n, 0n, 127n]],
  ['Int16', [-32768n, -1234n, -1n, 32767n]],
  ['Int32', [-(2n ** 31n), -1n, 2n ** 31n - 1n]],
  ['Int64', [-(2n ** 63n), -(2n ** 53n) - 1n, -1n, 2n ** 63n - 1n]],
  ['UInt8', [0n, 255n]],
  ['UInt16', [0n, 65535n]],
  ['UInt32', [0n, 2n ** 31n, 2n ** 32n - 1n]],
  ['UInt64', [0n, 2n ** 53n + 1n, 2n ** 64n - 1n]],
];

const metrics: Metric[] = EXTREMES.flatMap(([datatype, values]) =>
  values.map((v, i) => ({ name: `${datatype}/${i}`, datatype, value: Number.isSafeInteger(Number(v)) ? Number(v) : v, timestamp: 1_700_000_000_000 })));
const expected = metrics.map((m) => [m.name, String(m.value)]);
const hex = Buffer.from(encodePayload({ timestamp: 1_700_000_000_000, seq: 1, metrics })).toString('hex');

// Tahu's own encoding of Int8/Int16 (Java's int widening sign-extends them to 32 bits), written by hand.
const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { encode(m: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;
const signExtended = Buffer.from(ProtoPayload.encode({ timestamp: 1, seq: 1, metrics: [
  { name: 'Int16/sign-extended', datatype: 2, timestamp: 1, intValue: 2 ** 32 - 1234 },
] }).finish()).toString('hex');

function run(command: string, args: string[], input: string): string[] {
  const r = spawnSync(command, args, { cwd: ROOT, input, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{'));
}

describe('signed and unsigned integers read by independent Sparkplug decoders', () => {
  it('Eclipse Tahu reads every extreme as written, and the sign-extended form too', () => {
    // The first run builds the harness from Maven Central (scripts/tahu.sh needs java, javac and maven).
    const [ours, theirs] = run('bash', [join(ROOT, 'scripts/tahu.sh'), 'run', '--decode'], `${hex}\n${signExtended}\n`).map((l) => JSON.parse(l) as { event: string; metrics: Array<{ name: string; type: string; value: unknown }> });
    expect(ours!.event).toBe('decoded');
    expect(ours!.metrics.map((m) => [m.name, String(m.value)])).toEqual(expected);
    expect(ours!.metrics.map((m) => m.type)).toEqual(metrics.map((m) => m.datatype));
    expect(theirs!.metrics.map((m) => [m.name, String(m.value)])).toEqual([['Int16/sign-extended', '-1234']]);
  }, 200_000);

  it('pysparkplug reads every extreme as written; it refuses the sign-extended form, which we therefore do not write', () => {
    const python = peerPython('pysparkplug');
    const [ours, theirs] = run(python, [join(ROOT, 'test/peers/pysparkplug_decode.py')], `${hex}\n${signExtended}\n`).map((l) => JSON.parse(l) as { error?: string; metrics?: Array<{ name: string; type: string; value: unknown }> });
    expect(ours!.error).toBeUndefined();
    expect(ours!.metrics!.map((m) => [m.name, String(m.value)])).toEqual(expected);
    expect(ours!.metrics!.map((m) => m.type)).toEqual(metrics.map((m) => m.datatype.toUpperCase()));
    expect(theirs!.error).toMatch(/Int16 overflow/);
  }, 200_000);
});
