import { describe, expect, it } from 'vitest';

import { MachinePublic } from '../key.js';
import { X25519PrivateKey } from '../x25519.js';
import { HandshakeError, ServerRejectedError, initiateHandshake, respondToInitiation } from './handshake.js';
import { encodeErrorMessage } from './messages.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

// Produced by github.com/flynn/noise v1.1.0 (Noise_IK_25519_ChaChaPoly_BLAKE2s) with the prologue
// "Tailscale Control Protocol v131" and the key bytes of the cacophony IK vectors. The first
// transport message in each direction uses nonce zero, where big- and little-endian agree.
const VECTOR = {
  clientStatic: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  serverStatic: '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
  clientEphemeral: '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
  serverEphemeral: '4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60',
  initiationPayload:
    '358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254c9f0dff42c86abe5677abe74f6c87301' +
    '577dbc1f3ffb2213827ca694a057fdbb3fc675910d79aa90525019ac6c84401bfe10329888dd87b65761e8b72d34f561',
  responsePayload: '64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d4846624e5fa73ef5a0a1d9d9c1eb71f8ea07e',
  clientFirstRecord: '485694f9be1fe5309df6d8435d8f12cd3aa932d854b44ff6dd5684921dd8de83b43fe6fc2f',
  serverFirstRecord: '790aea47bf4dd520fa9a130829a6c4a50d58b55d95963f89787baf7d05c09e9e075a65cfcc',
  handshakeHash: '62aff4ce92461c4d02291a18ce034db98f1ee13773a2e90e68211863a83dcce1',
};

function vectorKeys() {
  return {
    client: new X25519PrivateKey(hex(VECTOR.clientStatic)),
    server: new X25519PrivateKey(hex(VECTOR.serverStatic)),
    clientEphemeral: new X25519PrivateKey(hex(VECTOR.clientEphemeral)),
    serverEphemeral: new X25519PrivateKey(hex(VECTOR.serverEphemeral)),
  };
}

describe('controlbase handshake', () => {
  it('builds the initiation of the reference vector', () => {
    const keys = vectorKeys();
    const pending = initiateHandshake(keys.client, MachinePublic.fromBytes(keys.server.publicKey), 131, {
      ephemeral: keys.clientEphemeral,
    });
    expect(pending.initiation.length).toBe(101);
    expect(pending.initiation.subarray(0, 5).toString('hex')).toBe('0083010060');
    expect(pending.initiation.subarray(5).toString('hex')).toBe(VECTOR.initiationPayload);
  });

  it('responds to the reference initiation and derives the reference keys', () => {
    const keys = vectorKeys();
    const initiation = Buffer.concat([hex('0083010060'), hex(VECTOR.initiationPayload)]);
    const { response, result } = respondToInitiation(initiation, keys.server, { ephemeral: keys.serverEphemeral });

    expect(response.toString('hex')).toBe(`020030${VECTOR.responsePayload}`);
    expect(result.peer.equals(MachinePublic.fromBytes(keys.client.publicKey))).toBe(true);
    expect(result.protocolVersion).toBe(131);
    expect(Buffer.from(result.handshakeHash).toString('hex')).toBe(VECTOR.handshakeHash);
    expect(result.receive.open(hex(VECTOR.clientFirstRecord)).toString()).toBe('hello from the client');
    expect(result.send.seal(Buffer.from('hello from the server')).toString('hex')).toBe(VECTOR.serverFirstRecord);
  });

  it('completes the reference handshake on the client side', () => {
    const keys = vectorKeys();
    const pending = initiateHandshake(keys.client, MachinePublic.fromBytes(keys.server.publicKey), 131, {
      ephemeral: keys.clientEphemeral,
    });
    const result = pending.finish(Buffer.concat([hex('020030'), hex(VECTOR.responsePayload)]));
    expect(Buffer.from(result.handshakeHash).toString('hex')).toBe(VECTOR.handshakeHash);
    expect(result.send.seal(Buffer.from('hello from the client')).toString('hex')).toBe(VECTOR.clientFirstRecord);
    expect(result.receive.open(hex(VECTOR.serverFirstRecord)).toString()).toBe('hello from the server');
  });

  it('keeps both ends in step with big-endian nonces past the first message', () => {
    const server = X25519PrivateKey.generate();
    const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(server.publicKey), 131);
    const { response, result: serverSide } = respondToInitiation(pending.initiation, server);
    const clientSide = pending.finish(response);

    const sealed = [0, 1, 2, 3].map((i) => clientSide.send.seal(Buffer.from(`message ${i}`)));
    for (const [i, record] of sealed.entries()) {
      expect(serverSide.receive.open(record).toString()).toBe(`message ${i}`);
    }
    // A reordered record fails, because its nonce is not the next counter value.
    const first = serverSide.send.seal(Buffer.from('a'));
    const second = serverSide.send.seal(Buffer.from('b'));
    expect(() => clientSide.receive.open(second)).toThrow(/tag mismatch/);
    expect(first.length).toBe(17);
  });

  it('binds the protocol version into the transcript', () => {
    const server = X25519PrivateKey.generate();
    const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(server.publicKey), 131);
    const forged = Buffer.from(pending.initiation);
    forged.writeUInt16BE(130, 0);
    expect(() => respondToInitiation(forged, server)).toThrow(HandshakeError);
  });

  it('rejects an initiation made for another server key', () => {
    const server = X25519PrivateKey.generate();
    const other = X25519PrivateKey.generate();
    const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(other.publicKey), 131);
    expect(() => respondToInitiation(pending.initiation, server)).toThrow(/machine key failed authentication/);
  });

  it('rejects malformed initiations naming the field', () => {
    const server = X25519PrivateKey.generate();
    const good = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(server.publicKey), 131).initiation;

    const cases: Array<[string, Buffer, RegExp]> = [
      ['short', good.subarray(0, 100), /initiation is 100 bytes, expected 101/],
      ['long', Buffer.concat([good, Buffer.alloc(1)]), /initiation is 102 bytes, expected 101/],
      ['type', Buffer.from(good).fill(0x04, 2, 3), /message type 0x04, expected 0x01/],
      ['payload length', Buffer.from(good).fill(0x61, 4, 5), /declares 97 payload bytes, expected 96/],
    ];
    for (const [name, initiation, message] of cases) {
      expect(() => respondToInitiation(initiation, server), name).toThrow(message);
    }

    const tampered = Buffer.from(good);
    tampered[100]! ^= 0x80;
    expect(() => respondToInitiation(tampered, server)).toThrow(/initiation tag failed authentication/);
  });

  it('surfaces the server error text on the client', () => {
    const server = X25519PrivateKey.generate();
    const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(server.publicKey), 131);
    expect(() => pending.finish(encodeErrorMessage('unsupported client version 5'))).toThrow(ServerRejectedError);
    expect(() => pending.finish(encodeErrorMessage('unsupported client version 5'))).toThrow(/"unsupported client version 5"/);
  });

  it('rejects a response from a server without the static key', () => {
    const server = X25519PrivateKey.generate();
    const impostor = X25519PrivateKey.generate();
    const client = X25519PrivateKey.generate();
    const pending = initiateHandshake(client, MachinePublic.fromBytes(server.publicKey), 131);
    const { response } = respondToInitiation(pending.initiation, server);
    const forged = Buffer.from(response);
    forged.set(impostor.publicKey, 3);
    expect(() => pending.finish(forged)).toThrow(/response tag failed authentication/);
  });
});
