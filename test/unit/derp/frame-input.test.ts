import { describe, expect, it } from 'vitest';

import { DerpFrameError, encodeFrame, encodeFrameHeader } from '../../../protocol/derp/index.js';
import { type FrameEvent, FrameInput, type FrameRule } from '../../../src/derp/frame-input.js';

const rules = (type: number): FrameRule => {
  if (type === 1) return { min: 1, max: 1 };
  if (type === 2) return { min: 0, max: 100 };
  if (type === 3) return { reject: 'type 3 is not allowed' };
  return 'skip';
};

function drain(input: FrameInput): FrameEvent[] {
  const events: FrameEvent[] = [];
  for (let event = input.next(); event !== undefined; event = input.next()) events.push(event);
  return events;
}

describe('FrameInput', () => {
  it('returns frames split across chunks byte by byte', () => {
    const bytes = Buffer.concat([encodeFrame(2, Buffer.from('hello')), encodeFrame(1, Uint8Array.of(7)), encodeFrame(2)]);
    const input = new FrameInput(rules);
    const events: FrameEvent[] = [];
    for (const byte of bytes) {
      input.push(Buffer.of(byte));
      events.push(...drain(input));
    }
    expect(events).toEqual([
      { kind: 'frame', type: 2, payload: Buffer.from('hello') },
      { kind: 'frame', type: 1, payload: Buffer.of(7) },
      { kind: 'frame', type: 2, payload: Buffer.alloc(0) },
    ]);
    expect(input.buffered).toBe(0);
  });

  it('returns views without copying when a frame lies in one chunk', () => {
    const chunk = encodeFrame(2, Buffer.from('abc'));
    const input = new FrameInput(rules);
    input.push(chunk);
    const [event] = drain(input);
    expect(event?.kind).toBe('frame');
    expect(event?.kind === 'frame' ? event.payload.buffer : undefined).toBe(chunk.buffer);
  });

  it('skips frames of unknown types without buffering them', () => {
    const input = new FrameInput(rules);
    input.push(encodeFrameHeader(0x55, 3 * 1024 * 1024));
    const events: FrameEvent[] = [];
    for (let i = 0; i < 3 * 16; i++) {
      input.push(Buffer.alloc(64 * 1024));
      events.push(...drain(input));
      expect(input.buffered).toBe(0);
    }
    expect(events).toEqual([{ kind: 'skipped', type: 0x55, length: 3 * 1024 * 1024 }]);
    input.push(encodeFrame(2, Buffer.from('next')));
    expect(drain(input)).toEqual([{ kind: 'frame', type: 2, payload: Buffer.from('next') }]);
  });

  it('rejects a declared length outside the rule from the header alone', () => {
    const input = new FrameInput(rules);
    input.push(encodeFrameHeader(2, 101));
    expect(() => input.next()).toThrow(DerpFrameError);
    const again = new FrameInput(rules);
    again.push(encodeFrameHeader(1, 0));
    expect(() => again.next()).toThrow(/declared payload length 0, expected 1/);
  });

  it('rejects a type its rule rejects', () => {
    const input = new FrameInput(rules);
    input.push(encodeFrame(3));
    expect(() => input.next()).toThrow(/type 3 is not allowed/);
  });

  it('applies new rules to the next header', () => {
    const input = new FrameInput(() => ({ reject: 'handshake only' }));
    input.push(encodeFrame(2, Buffer.from('x')));
    input.setRule(rules);
    expect(drain(input)).toEqual([{ kind: 'frame', type: 2, payload: Buffer.from('x') }]);
  });

  it('describes a frame that is still arriving', () => {
    const input = new FrameInput(rules);
    input.push(encodeFrameHeader(2, 50));
    expect(input.next()).toBeUndefined();
    expect(input.describePending()).toBe('ClientInfo frame of 50 bytes');
  });
});
