import { describe, expect, it } from 'vitest';
import { connect, publish, remainingLength, subscribe, PINGREQ } from '../../../test/helpers/mqtt-bytes.js';
import { FrameScanner, type FrameLimits } from './frames.js';

const LIMITS: FrameLimits = { beforeLogin: 64 * 1024, packet: 1024 * 1024 };

/** Feeds `bytes` one byte at a time: a header split across TCP segments is judged the same. */
function byteByByte(scanner: FrameScanner, bytes: Buffer, loggedIn: boolean, limits = LIMITS) {
  for (const b of bytes) {
    const v = scanner.feed(Buffer.from([b]), loggedIn, limits);
    if (v) return v;
  }
  return undefined;
}

describe('FrameScanner', () => {
  it('lets a CONNECT with a will and long credentials through, then packets up to the limit, whole or split', () => {
    const s = new FrameScanner();
    const hello = connect({ clientId: 'hmi-1', username: 'u'.repeat(1000), password: Buffer.alloc(1000, 1), will: { topic: 'w', payload: Buffer.alloc(8000) } });
    expect(s.feed(hello, false, LIMITS)).toBeUndefined();
    const big = publish('spBv1.0/g/NBIRTH/n', Buffer.alloc(LIMITS.packet - 30));
    expect(big.length).toBeLessThanOrEqual(LIMITS.packet);
    expect(s.feed(Buffer.concat([big, PINGREQ, subscribe(1, [{ filter: '#', qos: 1 }])]), true, LIMITS)).toBeUndefined();
    expect(byteByByte(s, Buffer.concat([PINGREQ, big.subarray(0, 100)]), true)).toBeUndefined();
    expect(s.feed(big.subarray(100), true, LIMITS)).toBeUndefined();
    expect(s.packets).toBe(6);
  });

  it('refuses a CONNECT announcing 256 MB on its five header bytes, before any of its body', () => {
    const header = Buffer.concat([Buffer.from([0x10]), remainingLength(268_435_455)]);
    expect(header.length).toBe(5);
    expect(byteByByte(new FrameScanner(), header, false)).toEqual({ problem: 'connect_too_large', bytes: 268_435_460, announced: true, type: 1 });
  });

  it('refuses more than the login budget in total before the login, even in small packets', () => {
    const s = new FrameScanner();
    expect(s.feed(connect({ clientId: 'c' }), false, LIMITS)).toBeUndefined();
    let verdict;
    for (let i = 0; i < 100 && !verdict; i++) verdict = s.feed(publish('t', Buffer.alloc(1000)), false, LIMITS);
    expect(verdict).toMatchObject({ problem: 'connect_too_large' });
    expect(verdict!.bytes).toBeGreaterThan(LIMITS.beforeLogin);
  });

  it('refuses a packet beyond the limit once logged in, on its header; one byte less passes', () => {
    const limits = { ...LIMITS, packet: 2000 };
    const s = new FrameScanner();
    s.feed(connect({ clientId: 'c' }), false, limits);
    const fits = publish('t', Buffer.alloc(2000 - 1 - 2 - 3));
    expect(fits.length).toBe(2000);
    expect(s.feed(fits, true, limits)).toBeUndefined();
    const header = publish('t', Buffer.alloc(2000 - 1 - 2 - 2)).subarray(0, 3);
    expect(byteByByte(s, header, true, limits)).toEqual({ problem: 'packet_too_large', bytes: 2001, announced: true, type: 3 });
  });

  it('calls malformed a remaining length past four bytes, a reserved type, and a first packet that is not a CONNECT', () => {
    expect(new FrameScanner().feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]), false, LIMITS)).toMatchObject({ problem: 'malformed_packet', detail: 'its remaining length runs past four bytes' });
    const s = new FrameScanner();
    s.feed(connect({ clientId: 'c' }), false, LIMITS);
    expect(s.feed(Buffer.from([0xf0, 0x00]), true, LIMITS)).toMatchObject({ problem: 'malformed_packet', type: 15 });
    expect(new FrameScanner().feed(Buffer.from([0x00, 0x00]), false, LIMITS)).toMatchObject({ problem: 'malformed_packet', type: 0 });
    expect(new FrameScanner().feed(publish('t', Buffer.from('x')), false, LIMITS)).toMatchObject({ problem: 'malformed_packet', detail: 'the first packet is of type 3, not a CONNECT' });
  });
});
