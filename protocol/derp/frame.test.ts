import { describe, expect, it } from 'vitest';

import {
  DerpFrameError,
  FrameHeaderLen,
  FrameType,
  KeyLen,
  Magic,
  MaxFrameWriteLen,
  MaxInfoLen,
  MaxPacketSize,
  NonceLen,
  ProtocolVersion,
  encodeFrame,
  encodeFrameHeader,
  frameTypeName,
  isKnownFrameType,
} from './frame.js';

describe('DERP constants', () => {
  it('match tailscale.com/derp v1.92.5', () => {
    expect(new TextDecoder().decode(Magic)).toBe('DERP🔑');
    expect(Buffer.from(Magic).toString('hex')).toBe('44455250f09f9491');
    expect(ProtocolVersion).toBe(2);
    expect(KeyLen).toBe(32);
    expect(NonceLen).toBe(24);
    expect(FrameHeaderLen).toBe(5);
    expect(MaxPacketSize).toBe(65536);
    expect(MaxInfoLen).toBe(1048576);
  });

  it('frame type bytes match the Go constants', () => {
    expect(FrameType).toEqual({
      ServerKey: 0x01,
      ClientInfo: 0x02,
      ServerInfo: 0x03,
      SendPacket: 0x04,
      RecvPacket: 0x05,
      KeepAlive: 0x06,
      NotePreferred: 0x07,
      PeerGone: 0x08,
      PeerPresent: 0x09,
      ForwardPacket: 0x0a,
      WatchConns: 0x10,
      ClosePeer: 0x11,
      Ping: 0x12,
      Pong: 0x13,
      Health: 0x14,
      Restarting: 0x15,
    });
  });
});

describe('frameTypeName', () => {
  it('names known and unknown types', () => {
    expect(frameTypeName(FrameType.NotePreferred)).toBe('NotePreferred');
    expect(frameTypeName(FrameType.Restarting)).toBe('Restarting');
    expect(frameTypeName(0x0b)).toBe('0x0b');
    expect(frameTypeName(0xff)).toBe('0xff');
  });

  it('isKnownFrameType separates the table from other bytes', () => {
    expect(isKnownFrameType(0x0a)).toBe(true);
    expect(isKnownFrameType(0x0b)).toBe(false);
    expect(isKnownFrameType(0x00)).toBe(false);
  });
});

describe('encodeFrame', () => {
  it('writes type and big-endian length', () => {
    const frame = encodeFrame(0x12, Uint8Array.of(1, 2, 3), Uint8Array.of(4));
    expect(frame.toString('hex')).toBe('120000000401020304');
  });

  it('writes an empty payload', () => {
    expect(encodeFrame(FrameType.KeepAlive).toString('hex')).toBe('0600000000');
  });

  it('header writes the length big-endian', () => {
    expect(encodeFrameHeader(0x04, 0x009f0e0d).toString('hex')).toBe('04009f0e0d');
  });

  it('rejects a type that is not a byte', () => {
    expect(() => encodeFrameHeader(256, 0)).toThrow('DERP frame: type 256 is not a byte');
    expect(() => encodeFrameHeader(-1, 0)).toThrow(RangeError);
  });

  it('rejects payloads over MaxFrameWriteLen', () => {
    expect(() => encodeFrameHeader(FrameType.SendPacket, MaxFrameWriteLen + 1)).toThrow(
      `SendPacket frame: payload length ${MaxFrameWriteLen + 1} is outside 0..${MaxFrameWriteLen}`,
    );
  });
});

describe('DerpFrameError', () => {
  it('prefixes the frame name', () => {
    const error = new DerpFrameError(FrameType.NotePreferred, 'payload length 2, expected 1');
    expect(error.message).toBe('NotePreferred frame: payload length 2, expected 1');
    expect(error.frameType).toBe(FrameType.NotePreferred);
    expect(error.name).toBe('DerpFrameError');
    expect(error).toBeInstanceOf(Error);
  });
});
