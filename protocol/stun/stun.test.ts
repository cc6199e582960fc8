import { describe, expect, it } from 'vitest';

import { TailscaleSoftware, buildBindingRequest, newTransactionId, parseBindingRequest } from './binding-request.js';
import { buildBindingResponse, parseBindingResponse } from './binding-response.js';
import { computeFingerprint } from './fingerprint.js';
import { StunError, isStunMessage } from './message.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// Vectors printed by tailscale.com/net/stun v1.92.5 (stun.Request and stun.Response)
// for transaction ID a0 a1 … ab.
const transactionId = hex('a0a1a2a3a4a5a6a7a8a9aaab');
const goRequest = '000100142112a442a0a1a2a3a4a5a6a7a8a9aaab802200087461696c6e6f64658028000428a54bbb';
const goResponseIPv4 = '0101000c2112a442a0a1a2a3a4a5a6a7a8a9aaab002000080001112be112a643'; // 192.0.2.1:12345
const goResponseIPv6 =
  '010100182112a442a0a1a2a3a4a5a6a7a8a9aaab00200014000220a90113a9faa0a1a2a3a4a5a6a7a8a8aaa9'; // [2001:db8::1:2]:443
// Go writes ::ffff:192.0.2.1 as family 0x02 with 16 bytes; this library writes IPv4 instead.
const goResponseMapped =
  '010100182112a442a0a1a2a3a4a5a6a7a8a9aaab002000140002112b2112a442a0a1a2a3a4a5595868a9a8aa';

/** Returns a copy of packet with the FINGERPRINT at the end recomputed. */
function refingerprint(packet: Buffer): Buffer {
  const copy = Buffer.from(packet);
  copy.writeUInt32BE(computeFingerprint(copy.subarray(0, copy.length - 8)), copy.length - 4);
  return copy;
}

describe('fingerprint', () => {
  it('is CRC-32 XOR 0x5354554e', () => {
    // CRC-32/IEEE check value of "123456789" is 0xcbf43926.
    expect(computeFingerprint(Buffer.from('123456789'))).toBe((0xcbf43926 ^ 0x5354554e) >>> 0);
  });
});

describe('isStunMessage', () => {
  it('accepts requests and responses', () => {
    expect(isStunMessage(hex(goRequest))).toBe(true);
    expect(isStunMessage(hex(goResponseIPv4))).toBe(true);
  });

  it('rejects short, high-bit and cookie-less packets', () => {
    expect(isStunMessage(hex(goRequest).subarray(0, 19))).toBe(false);
    const highBit = hex(goRequest);
    highBit[0] = 0x40;
    expect(isStunMessage(highBit)).toBe(false);
    const noCookie = hex(goRequest);
    noCookie[4] = 0x22;
    expect(isStunMessage(noCookie)).toBe(false);
  });

  it('rejects a WireGuard handshake initiation', () => {
    const wireGuard = Buffer.alloc(148);
    wireGuard[0] = 0x01;
    expect(isStunMessage(wireGuard)).toBe(false);
  });
});

describe('buildBindingRequest', () => {
  it('matches tailscaled byte for byte', () => {
    expect(toHex(buildBindingRequest(transactionId))).toBe(goRequest);
  });

  it('is 40 bytes', () => {
    expect(buildBindingRequest(newTransactionId()).length).toBe(40);
  });

  it('rejects a wrong transaction ID length', () => {
    expect(() => buildBindingRequest(new Uint8Array(11))).toThrow('STUN: transaction ID length 11, expected 12');
  });
});

describe('newTransactionId', () => {
  it('returns 12 random bytes', () => {
    const first = newTransactionId();
    expect(first.length).toBe(12);
    expect(toHex(first)).not.toBe(toHex(newTransactionId()));
  });
});

describe('parseBindingRequest', () => {
  it('parses the tailscaled request', () => {
    const request = parseBindingRequest(hex(goRequest), { requireTailscale: true });
    expect(toHex(request.transactionId)).toBe(toHex(transactionId));
    expect(request.software).toBe(TailscaleSoftware);
    expect(request.hasFingerprint).toBe(true);
  });

  it('accepts a bare request without attributes', () => {
    const bare = hex(`000100002112a442${toHex(transactionId)}`);
    const request = parseBindingRequest(bare);
    expect(toHex(request.transactionId)).toBe(toHex(transactionId));
    expect(request.software).toBeUndefined();
    expect(request.hasFingerprint).toBe(false);
  });

  it('ignores trailing bytes after the declared length', () => {
    const padded = Buffer.concat([hex(goRequest), Buffer.from([1, 2, 3])]);
    expect(parseBindingRequest(padded).hasFingerprint).toBe(true);
  });

  it('reports a packet that is not STUN', () => {
    const error = captureStunError(() => parseBindingRequest(Buffer.alloc(10)));
    expect(error.check).toBe('not-stun');
    expect(error.message).toBe('STUN binding request: not a STUN message: length 10 is shorter than the 20-byte header');
  });

  it('reports a wrong magic cookie', () => {
    const packet = hex(goRequest);
    packet[7] = 0x43;
    expect(() => parseBindingRequest(packet)).toThrow(
      'STUN binding request: not a STUN message: magic cookie 0x2112a443, expected 0x2112a442',
    );
  });

  it('reports a response given as request', () => {
    const error = captureStunError(() => parseBindingRequest(hex(goResponseIPv4)));
    expect(error.check).toBe('wrong-message-type');
    expect(error.message).toBe('STUN binding request: message type 0x0101, expected 0x0001');
  });

  it('reports a declared length past the packet', () => {
    const error = captureStunError(() => parseBindingRequest(hex(goRequest).subarray(0, 36)));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding request: header declares 20 attribute bytes, but only 16 follow');
  });

  it('reports an attribute running past the message', () => {
    const packet = hex(goRequest);
    packet.writeUInt16BE(17, 22); // SOFTWARE claims 17 bytes, 20 with padding
    const error = captureStunError(() => parseBindingRequest(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding request: attribute 0x8022 at offset 20 declares 17 bytes, past the end of the message');
  });

  it('reports stray bytes after the last attribute', () => {
    const packet = Buffer.concat([hex(goRequest).subarray(0, 32), Buffer.alloc(2)]);
    packet.writeUInt16BE(14, 2);
    const error = captureStunError(() => parseBindingRequest(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding request: 2 stray bytes after the last attribute');
  });

  it('reports a wrong fingerprint', () => {
    const packet = hex(goRequest);
    packet[39] = (packet[39] ?? 0) ^ 0x01;
    const error = captureStunError(() => parseBindingRequest(packet));
    expect(error.check).toBe('wrong-fingerprint');
    expect(error.message).toBe('STUN binding request: FINGERPRINT 0x28a54bba, expected 0x28a54bbb');
  });

  it('reports a changed byte covered by the fingerprint', () => {
    const packet = hex(goRequest);
    packet[24] = 0x54; // "tailnode" becomes "Tailnode"
    expect(captureStunError(() => parseBindingRequest(packet)).check).toBe('wrong-fingerprint');
  });

  it('reports a fingerprint that is not last', () => {
    const request = hex(goRequest);
    const packet = Buffer.concat([request, hex('80220000')]);
    packet.writeUInt16BE(24, 2);
    const error = captureStunError(() => parseBindingRequest(packet));
    expect(error.check).toBe('wrong-fingerprint');
    expect(error.message).toBe('STUN binding request: FINGERPRINT at offset 32 is not the last attribute');
  });

  it('reports a fingerprint of the wrong length', () => {
    const packet = Buffer.concat([hex(goRequest).subarray(0, 32), hex('80280008'), Buffer.alloc(8)]);
    packet.writeUInt16BE(24, 2);
    const error = captureStunError(() => parseBindingRequest(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding request: FINGERPRINT length 8, expected 4');
  });

  it('requireTailscale rejects other software', () => {
    const packet = hex(goRequest);
    packet.write('Tailnode', 24, 'latin1');
    const error = captureStunError(() => parseBindingRequest(refingerprint(packet), { requireTailscale: true }));
    expect(error.check).toBe('wrong-software');
    expect(error.message).toBe('STUN binding request: SOFTWARE is "Tailnode", expected "tailnode"');
    expect(parseBindingRequest(refingerprint(packet)).software).toBe('Tailnode');
  });

  it('requireTailscale rejects a missing SOFTWARE', () => {
    const bare = hex(`000100002112a442${toHex(transactionId)}`);
    const error = captureStunError(() => parseBindingRequest(bare, { requireTailscale: true }));
    expect(error.check).toBe('wrong-software');
    expect(error.message).toBe('STUN binding request: SOFTWARE is missing, expected "tailnode"');
  });

  it('requireTailscale rejects a missing FINGERPRINT', () => {
    const packet = hex(goRequest).subarray(0, 32);
    packet.writeUInt16BE(12, 2);
    expect(parseBindingRequest(packet).hasFingerprint).toBe(false);
    const error = captureStunError(() => parseBindingRequest(packet, { requireTailscale: true }));
    expect(error.check).toBe('no-fingerprint');
    expect(error.message).toBe('STUN binding request: FINGERPRINT is missing');
  });
});

describe('buildBindingResponse', () => {
  it('matches Tailscale for IPv4', () => {
    expect(toHex(buildBindingResponse(transactionId, { ip: '192.0.2.1', port: 12345 }))).toBe(goResponseIPv4);
  });

  it('matches Tailscale for IPv6', () => {
    expect(toHex(buildBindingResponse(transactionId, { ip: '2001:db8::1:2', port: 443 }))).toBe(goResponseIPv6);
  });

  it('writes an IPv4-mapped address as IPv4', () => {
    expect(toHex(buildBindingResponse(transactionId, { ip: '::ffff:192.0.2.1', port: 12345 }))).toBe(goResponseIPv4);
  });

  it('rejects a bad port, address or transaction ID', () => {
    expect(() => buildBindingResponse(transactionId, { ip: '192.0.2.1', port: 70000 })).toThrow(
      'STUN binding response: port 70000 is outside 0..65535',
    );
    expect(() => buildBindingResponse(transactionId, { ip: '192.0.2', port: 1 })).toThrow('invalid IP address "192.0.2"');
    expect(() => buildBindingResponse(new Uint8Array(16), { ip: '192.0.2.1', port: 1 })).toThrow(
      'STUN: transaction ID length 16, expected 12',
    );
  });
});

describe('parseBindingResponse', () => {
  it('parses the Tailscale IPv4 response', () => {
    const response = parseBindingResponse(hex(goResponseIPv4));
    expect(toHex(response.transactionId)).toBe(toHex(transactionId));
    expect(response.address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('parses the Tailscale IPv6 response', () => {
    expect(parseBindingResponse(hex(goResponseIPv6)).address).toEqual({ ip: '2001:db8::1:2', port: 443 });
  });

  it('unmaps an IPv4-mapped IPv6 response', () => {
    expect(parseBindingResponse(hex(goResponseMapped)).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('round-trips random ports and addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '::1', 'fe80::1234:5678:9abc:def0', '2001:db8:ffff::']) {
      for (const port of [0, 1, 3478, 41641, 65535]) {
        const id = newTransactionId();
        const response = parseBindingResponse(buildBindingResponse(id, { ip, port }));
        expect(toHex(response.transactionId)).toBe(toHex(id));
        expect(response.address).toEqual({ ip, port });
      }
    }
  });

  it('accepts the 0x8020 alias', () => {
    const packet = hex(goResponseIPv4);
    packet.writeUInt16BE(0x8020, 20);
    expect(parseBindingResponse(packet).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('falls back to MAPPED-ADDRESS', () => {
    const packet = hex(`0101000c2112a442${toHex(transactionId)}00010008` + '00013039c0000201'); // 192.0.2.1:12345
    expect(parseBindingResponse(packet).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('prefers XOR-MAPPED-ADDRESS over MAPPED-ADDRESS', () => {
    const mapped = hex('000100080001000a0a000001'); // 10.0.0.1:10
    const packet = Buffer.concat([hex(goResponseIPv4), mapped]);
    packet.writeUInt16BE(24, 2);
    expect(parseBindingResponse(packet).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('skips unknown attributes', () => {
    const software = hex('802200037878780a'); // "xxx" plus one pad byte
    const packet = Buffer.concat([hex(goResponseIPv4).subarray(0, 20), software, hex(goResponseIPv4).subarray(20)]);
    packet.writeUInt16BE(20, 2);
    expect(parseBindingResponse(packet).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('ignores trailing bytes after the declared length', () => {
    const packet = Buffer.concat([hex(goResponseIPv4), Buffer.alloc(7)]);
    expect(parseBindingResponse(packet).address).toEqual({ ip: '192.0.2.1', port: 12345 });
  });

  it('reports a request given as response', () => {
    const error = captureStunError(() => parseBindingResponse(hex(goRequest)));
    expect(error.check).toBe('wrong-message-type');
    expect(error.message).toBe('STUN binding response: message type 0x0001, expected 0x0101');
  });

  it('reports a packet that is not STUN', () => {
    const packet = hex(goResponseIPv4);
    packet[0] = 0x81;
    const error = captureStunError(() => parseBindingResponse(packet));
    expect(error.check).toBe('not-stun');
    expect(error.message).toBe('STUN binding response: not a STUN message: first byte 0x81 has a top bit set');
  });

  it('reports a response without an address', () => {
    const packet = hex(goResponseIPv4).subarray(0, 20);
    packet.writeUInt16BE(0, 2);
    const error = captureStunError(() => parseBindingResponse(packet));
    expect(error.check).toBe('no-mapped-address');
    expect(error.message).toBe('STUN binding response: no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS attribute');
  });

  it('reports an unknown address family', () => {
    const packet = hex(goResponseIPv4);
    packet[25] = 0x03;
    const error = captureStunError(() => parseBindingResponse(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding response: XOR-MAPPED-ADDRESS family 0x03, expected 0x01 or 0x02');
  });

  it('reports an address too short for its family', () => {
    const packet = hex(goResponseIPv4);
    packet[25] = 0x02;
    const error = captureStunError(() => parseBindingResponse(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding response: XOR-MAPPED-ADDRESS length 8 is too short for a family 0x02 address (20)');
  });

  it('reports an attribute value shorter than 4 bytes', () => {
    const packet = hex(`010000082112a442${toHex(transactionId)}0001000200010000`);
    packet[1] = 0x01;
    const error = captureStunError(() => parseBindingResponse(packet));
    expect(error.check).toBe('malformed-attributes');
    expect(error.message).toBe('STUN binding response: MAPPED-ADDRESS length 2 is shorter than 4');
  });
});

function captureStunError(action: () => unknown): StunError {
  try {
    action();
  } catch (error) {
    if (error instanceof StunError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a StunError, but nothing was thrown');
}
