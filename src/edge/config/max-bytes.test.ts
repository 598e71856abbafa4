import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { problems } from './test-fixtures.js';

const withBuffer = (buffer: string) => `site: { group: plant, node: gw }\nbuffer:\n${buffer}\n`;
const maxBytes = (value: string) => parseConfig(withBuffer(`  max_bytes: ${value}`), 'gw.yaml').buffer.max_bytes;

describe('buffer.max_bytes', () => {
  it('is 80% of the disk unless set, with or without a buffer section', () => {
    expect(parseConfig('site: { group: plant, node: gw }\n').buffer.max_bytes).toEqual({ percent: 80 });
    expect(parseConfig(withBuffer('  sync: full')).buffer.max_bytes).toEqual({ percent: 80 });
  });

  it('takes a share of the disk as an integer or decimal percent from 1% to 99%, quoted or not', () => {
    expect(maxBytes('80%')).toEqual({ percent: 80 });
    expect(maxBytes('"12.5%"')).toEqual({ percent: 12.5 });
    expect(maxBytes('1%')).toEqual({ percent: 1 });
    expect(maxBytes('99%')).toEqual({ percent: 99 });
    expect(maxBytes('"  60 % "')).toEqual({ percent: 60 });
  });

  it('still takes bytes: a plain number or a size with its unit', () => {
    expect(maxBytes('1048576')).toBe(1_048_576);
    expect(maxBytes('500MB')).toBe(500_000_000);
    expect(maxBytes('1GiB')).toBe(1024 ** 3);
  });

  it('refuses a share outside 1%..99% or written wrong, at the value\'s file:line:col', () => {
    for (const bad of ['120%', '0%', '80 %x', '0.5%', '99.5%', '100%', '%', '-5%', '80%%', '8O%']) {
      expect(problems(withBuffer(`  max_bytes: "${bad}"`)), bad).toEqual([
        `gw.yaml:3:14 buffer.max_bytes: "${bad}" is not a share of the disk: write 1% to 99% (examples: 80%, 12.5%), or a size (500MB, 2GiB)`,
      ]);
    }
    expect(problems(withBuffer('  when_full: drop_oldest\n  max_bytes: lots'))).toEqual([
      'gw.yaml:4:14 buffer.max_bytes: "lots" is neither a size (examples: 500MB, 2GiB) nor a share of the disk (examples: 80%, 12.5%)',
    ]);
    expect(problems('site: { group: plant, node: gw }\nbuffer: { max_bytes: 120% }\n')).toEqual([
      'gw.yaml:2:22 buffer.max_bytes: "120%" is not a share of the disk: write 1% to 99% (examples: 80%, 12.5%), or a size (500MB, 2GiB)',
    ]);
  });
});
