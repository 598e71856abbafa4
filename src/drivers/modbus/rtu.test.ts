import { describe, expect, it } from 'vitest';
import { describeFraming, silenceMs } from './rtu.js';

describe('the serial line between frames', () => {
  it('stays quiet 3.5 characters, counting start, data, parity and stop bits', () => {
    expect(silenceMs({ baud: 9600, parity: 'none', data_bits: 8, stop_bits: 1 })).toBe(4); // 10 bits: 3.65 ms
    expect(silenceMs({ baud: 1200, parity: 'even', data_bits: 8, stop_bits: 1 })).toBe(33); // 11 bits: 32.1 ms
    expect(silenceMs({ baud: 19200, parity: 'none', data_bits: 8, stop_bits: 2 })).toBe(3); // 11 bits: 2.0 ms
    expect(silenceMs({ baud: 115200, parity: 'none', data_bits: 8, stop_bits: 1 })).toBe(2); // fixed 1.75 ms above 19200
  });

  it('names the framing as a technician writes it', () => {
    expect(describeFraming({ baud: 19200, parity: 'even', data_bits: 8, stop_bits: 1 })).toBe('19200 baud 8E1');
  });
});
