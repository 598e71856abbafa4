import { mkdirSync, mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimatedBytesPerSample } from '../src/uplink/journal/capacity.js';
import { runCli } from './helpers/cli.js';

const shipped = readFileSync('config/gateway.yaml');
const scratch = mkdtempSync(join(tmpdir(), 'validate-'));
/** A config file in a scratch folder; `validate` prints problems with the path as given. */
function file(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}
/** validate's whole answer: exit code and stderr lines, with no stack trace anywhere. */
function validate(path: string) {
  const r = runCli(['validate', '--config', path]);
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at /m);
  return { code: r.code, lines: r.stderr.trimEnd().split('\n'), stdout: r.stdout };
}

describe('edge-gateway validate', () => {
  it('accepts the shipped config/gateway.yaml', () => {
    const r = runCli(['validate', '--config', 'config/gateway.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid (1 devices, 2 tags)');
  });

  it('names a typo\'d key at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/typo-key.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:46 devices[0].tags[0].adress: unknown key "adress"');
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:9 devices[0].tags[0].address: required key "address" is missing');
  });

  it('names a value of the wrong type at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/wrong-type.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^test\/configs\/wrong-type\.yaml:6:11 devices\[0\]\.port: .*expected number/);
  });

  it('points a bad YAML indent at the mis-indented line', () => {
    const r = runCli(['validate', '--config', 'test/configs/bad-indent.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('test/configs/bad-indent.yaml:5:6 (file): YAML syntax: this line is indented differently from the lines around it');
  });

  it('names a bad redundant MQTT server, and servers that the embedded broker would make pointless', () => {
    const bad = runCli(['validate', '--config', 'test/configs/servers-bad.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('test/configs/servers-bad.yaml:6:46 sparkplug.servers[2]: "mqtt-b" is not HOST:PORT (example: 127.0.0.1:1883)');
    const embedded = runCli(['validate', '--config', 'test/configs/servers-embedded.yaml']);
    expect(embedded.code).toBe(2);
    expect(embedded.stderr.trim()).toMatch(/^test\/configs\/servers-embedded\.yaml:5:12 sparkplug\.servers: .*broker\.embedded: false/);
  });

  it('reports a missing file as a problem with the file, not a crash', () => {
    const r = runCli(['validate', '--config', 'test/configs/no-such-file.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^test\/configs\/no-such-file\.yaml:1:1 \(file\): cannot read the file/);
  });

  it('names an alias without an anchor at its place, as any other problem', () => {
    const f = file('nope.yaml', `${shipped}log_level: *nope\n`);
    expect(validate(f)).toMatchObject({ code: 2, lines: [`${f}:19:12 log_level: YAML alias *nope names no anchor &nope set before it`] });
    const loop = file('loop.yaml', `${shipped}x: &x\n  y: *x\n`);
    expect(validate(loop)).toMatchObject({ code: 2, lines: [`${loop}:20:6 x.y: YAML alias *x sits inside the node it repeats (&x), which would never end`] });
  });

  it('refuses aliases that multiply the file, and says where and by how much', () => {
    const levels = ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: 9 }, (_, i) => `lol${i + 1}: &l${i + 1} [${Array(9).fill(`*l${i}`).join(', ')}]`)];
    const f = file('laughs.yaml', `${shipped}${levels.join('\n')}\n`);
    const r = validate(f);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^${f}:28:12 lol9\\[0\\]: YAML aliases expand this file to \\d+ values, more than the 100000 allowed`))]);
  });

  it('takes merge keys, and places a problem of a merged value where it is written', () => {
    const tags = (bad: string) => `site: { group: g, node: n }\ndevices:\n  - name: p\n    driver: modbus-tcp\n    host: 127.0.0.1\n    tags:\n      - &t { name: a, table: holding, address: 0, type: ${bad} }\n      - { <<: *t, name: b, address: 2 }\n`;
    expect(validate(file('merge.yaml', tags('float32')))).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (1 devices, 2 tags)') });
    const f = file('merge-bad.yaml', tags('floaty'));
    const r = validate(f);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^${f}:7:57 devices\\[0\\]\\.tags\\[0\\]\\.type: `)), expect.stringMatching(new RegExp(`^${f}:7:57 devices\\[0\\]\\.tags\\[1\\]\\.type: `))]);
  });

  it('answers with a positioned problem for files that are no YAML config at all', () => {
    const deep = file('deep.yaml', `a:\n${'- '.repeat(300_000)}1\n`);
    expect(validate(deep)).toMatchObject({ code: 2, lines: [`${deep}:2:129 (file): YAML nests deeper than 64 levels here; a configuration needs fewer than ten`] });
    const latin1 = file('latin1.yaml', Buffer.from(shipped.toString('latin1').replace('press-01', 'pr\xe9ss-01'), 'latin1'));
    expect(validate(latin1)).toMatchObject({ code: 2, lines: [`${latin1}:7:13 (file): the file is not UTF-8 text: byte 0xE9 cannot start or continue a character (save the file as UTF-8)`] });
    const control = file('control.yaml', shipped.toString().replace('devices:', '\fdevices:'));
    expect(validate(control).lines).toContain(`${control}:6:1 \\u000cdevices: unknown key "\\u000cdevices"`);
    const firstByte = file('first-byte.yaml', Buffer.concat([Buffer.from([0xdc]), shipped]));
    expect(validate(firstByte)).toMatchObject({ code: 2, lines: [`${firstByte}:1:1 (file): the file is not UTF-8 text: byte 0xDC cannot start or continue a character (save the file as UTF-8)`] });
    expect(validate(scratch)).toMatchObject({ code: 2, lines: [`${scratch}:1:1 (file): cannot read the file: EISDIR: illegal operation on a directory, read`] });
    expect(validate('/dev/zero')).toMatchObject({ code: 2, lines: ['/dev/zero:1:1 (file): the file is larger than 4194304 bytes; a configuration is at most 4 MiB'] });
    const tabs = file('tabs.yaml', shipped.toString().replace('    host:', '\thost:'));
    const t = validate(tabs);
    expect(t.code).toBe(2);
    expect(t.lines[0]).toBe(`${tabs}:9:1 (file): YAML syntax: Tabs are not allowed as indentation`);
    for (const line of t.lines) expect(line.startsWith(`${tabs}:`)).toBe(true);
  });

  describe('the journal capacity line', () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `      - { name: t${i}, table: holding, address: ${i * 2}, type: float32 }`).join('\n');
    const plant = (dataDir: string, maxBytes: string) => `site: { group: g, node: n }
data_dir: ${dataDir}
buffer: { max_bytes: ${maxBytes} }
devices:
  - { name: press-a, driver: modbus-tcp, host: 127.0.0.1, poll: 200ms, tags: [${'{ name: a, table: holding, address: 0 }, { name: b, table: holding, address: 1 }, { name: c, table: coil, address: 2 }'}] }
  - name: press-b
    driver: modbus-tcp
    host: 127.0.0.1
    poll: 2s
    tags:
${tags(4)}
  - name: dosing-c
    driver: modbus-rtu
    port: /dev/ttyUSB0
    poll: 500ms
    tags:
${tags(2)}
`;
    // 3 tags every 200 ms, 4 every 2 s, 2 every 500 ms.
    const samplesPerSec = 3 / 0.2 + 4 / 2 + 2 / 0.5;
    const bytesPerSample = (15 * estimatedBytesPerSample(3) + 2 * estimatedBytesPerSample(4) + 4 * estimatedBytesPerSample(2)) / samplesPerSec;

    it('prints the hours a byte bound holds at the poll plan\'s samples per second, and stays exit 0', () => {
      const r = validate(file('capacity-bytes.yaml', plant(join(scratch, 'data'), '1GB')));
      expect(r.code).toBe(0);
      const [valid, line] = r.stdout.trimEnd().split('\n');
      expect(valid).toMatch(/: valid \(3 devices, 9 tags\)$/);
      const m = /^journal: 1\.0 GB holds ([\d,]+) h \(([\d,]+) days\) at (\d+) samples\/s \(estimate: every tag at every poll, ([\d.]+) bytes per sample\)$/.exec(line!);
      expect(m, line).not.toBeNull();
      expect(Number(m![3])).toBe(21);
      expect(Number(m![4])).toBeCloseTo(bytesPerSample, 1);
      const hours = 1e9 / bytesPerSample / samplesPerSec / 3600;
      expect(Number(m![1]!.replace(/,/g, ''))).toBe(Math.round(hours));
      expect(Number(m![2]!.replace(/,/g, ''))).toBe(Math.round(hours / 24));
    });

    it('resolves a share against data_dir\'s file system now, and says so', () => {
      const dataDir = join(scratch, 'share-data');
      mkdirSync(dataDir, { recursive: true });
      const r = validate(file('capacity-share.yaml', plant(dataDir, '50%')));
      expect(r.code).toBe(0);
      const line = r.stdout.trimEnd().split('\n')[1]!;
      const m = new RegExp(`^journal: 50% of ${dataDir} \\(([\\d.]+) GB now\\) holds ([\\d,]+) h .*at 21 samples/s \\(estimate`).exec(line);
      expect(m, line).not.toBeNull();
      const fs = statfsSync(dataDir);
      const expected = (0.5 * fs.bavail * fs.bsize) / 1e9;
      // Printed to 0.1 GB; other programs write to this disk meanwhile.
      expect(Math.abs(Number(m![1]) - expected)).toBeLessThan(0.2);
      const hours = (Number(m![1]) * 1e9) / bytesPerSample / samplesPerSec / 3600;
      expect(Math.abs(Number(m![2]!.replace(/,/g, '')) - hours) / hours).toBeLessThan(0.01);
    });

    it('says when the rate cannot be known ahead, and refuses a bad share with exit 2 at its key', () => {
      const push = validate(file('capacity-push.yaml', `site: { group: g, node: n }\ndata_dir: ${scratch}\ndevices:\n  - { name: meter-1, driver: mqtt-json, topic: m/1, tags: [{ name: kwh, path: $.kwh }] }\n`));
      expect(push.code).toBe(0);
      expect(push.stdout).toMatch(new RegExp(`^journal: 80% of ${scratch} \\([\\d.]+ [kMGT]?B now\\); the capture rate is not known ahead: mqtt-json devices "meter-1" publish at their own rate$`, 'm'));
      const bad = file('capacity-bad.yaml', plant(scratch, '120%'));
      expect(validate(bad)).toMatchObject({ code: 2, stdout: '', lines: [`${bad}:3:22 buffer.max_bytes: "120%" is not a share of the disk: write 1% to 99% (examples: 80%, 12.5%), or a size (500MB, 2GiB)`] });
    });
  });
});
