import { randomBytes } from 'node:crypto';

import { x25519 } from '@noble/curves/ed25519.js';
import { hsalsa } from '@noble/ciphers/salsa.js';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';

import {
  BoxOpenError,
  boxBeforeNm,
  open,
  openAfterNm,
  openFrom,
  seal,
  sealAfterNm,
  sealTo,
} from './box.js';
import { X25519PrivateKey } from './x25519.js';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// HSalsa20 with a zero input block, written out independently of box.ts.
function hsalsaZero(key: Uint8Array): Uint8Array {
  const sigma = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  const keyWords = new Uint32Array(Uint8Array.from(key).buffer);
  const out = new Uint32Array(8);
  hsalsa(sigma, keyWords, new Uint32Array(4), out);
  return new Uint8Array(out.buffer);
}

// RFC 7748 section 6.1 (X25519 Diffie-Hellman example).
const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const alicePublic = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const bobPrivate = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const rfc7748Shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

// The crypto_box example of libsodium's test/default/box.c (from NaCl's tests):
// Alice's private key seals to Bob's public key. naclBox is what box.c prints from
// byte 16 on, which is tag || ciphertext.
const naclNonce = hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37');
const naclMessage = hex(
  'be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705',
);
const naclBox =
  'f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5';

describe('boxBeforeNm', () => {
  it('derives the firstkey vector', () => {
    // libsodium test/default/core1.c: firstkey = HSalsa20(key = RFC 7748 shared secret, input = 0).
    const firstKey = '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389';
    expect(toHex(boxBeforeNm(bobPublic, alicePrivate))).toBe(firstKey);
    expect(toHex(boxBeforeNm(alicePublic, bobPrivate))).toBe(firstKey);
    expect(toHex(boxBeforeNm(bobPublic, new X25519PrivateKey(alicePrivate)))).toBe(firstKey);
  });

  it('matches tweetnacl box.before', () => {
    for (let i = 0; i < 20; i++) {
      const myPrivate = X25519PrivateKey.generate();
      const theirPublic = X25519PrivateKey.generate().publicKey;
      const expected = toHex(nacl.box.before(theirPublic, myPrivate.bytes));
      expect(toHex(boxBeforeNm(theirPublic, myPrivate))).toBe(expected);
      expect(toHex(boxBeforeNm(theirPublic, myPrivate.bytes))).toBe(expected);
    }
  });

  it('uses an X25519 result equal to @noble/curves', () => {
    // HSalsa20 of noble's shared secret must give the same key, which pins step 1
    // (node:crypto) to the reference implementation.
    const myPrivate = X25519PrivateKey.generate();
    const theirPublic = X25519PrivateKey.generate().publicKey;
    const nobleShared = x25519.getSharedSecret(myPrivate.bytes, theirPublic);
    expect(toHex(boxBeforeNm(theirPublic, myPrivate))).toBe(toHex(hsalsaZero(nobleShared)));
  });

  it('rejects low-order public keys', () => {
    // The all-zero point, and the order-8 point from libsodium's test/default/box.c.
    const smallOrder = hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
    expect(() => boxBeforeNm(new Uint8Array(32), alicePrivate)).toThrow(/low-order point/);
    expect(() => boxBeforeNm(smallOrder, alicePrivate)).toThrow(/low-order point/);
  });

  it('rejects wrong key lengths', () => {
    expect(() => boxBeforeNm(bobPublic, alicePrivate.subarray(1))).toThrow('box: private key length 31, expected 32');
    expect(() => boxBeforeNm(new Uint8Array(33), alicePrivate)).toThrow('box: public key length 33, expected 32');
  });
});
describe('seal and open', () => {
  it('matches the libsodium box.c vector', () => {
    expect(toHex(seal(naclMessage, naclNonce, bobPublic, alicePrivate))).toBe(naclBox);
    expect(toHex(open(hex(naclBox), naclNonce, alicePublic, bobPrivate))).toBe(toHex(naclMessage));
  });

  it('matches Go nacl/box.Seal', () => {
    // golang.org/x/crypto v0.45.0 (pinned by tailscale.com v1.92.5) nacl/box.Seal with
    // nonce 00..17, Alice's private key and Bob's public key, output prefixed by the nonce
    // the way key.NodePrivate.SealTo lays it out.
    const nonce = Uint8Array.from({ length: 24 }, (_, i) => i);
    const message = new TextEncoder().encode('{"version":2,"CanAckPings":true}');
    const goSealed =
      '000102030405060708090a0b0c0d0e0f1011121314151617f857ec21fe9b663e37a51ed82b058c047e6c26c069053c122ea5a24c8fa8fbbf8f83ba8b258ec2ea09f11d4e345f8b61';
    expect(toHex(sealTo(message, bobPublic, alicePrivate, nonce))).toBe(goSealed);
    expect(new TextDecoder().decode(openFrom(hex(goSealed), alicePublic, bobPrivate))).toBe('{"version":2,"CanAckPings":true}');
  });

  it('agrees with tweetnacl in both directions', () => {
    for (let i = 0; i < 50; i++) {
      const ourKey = X25519PrivateKey.generate();
      const ourPrivate = i % 2 === 0 ? ourKey : ourKey.bytes;
      const ourPublic = ourKey.publicKey;
      const peer = nacl.box.keyPair();
      const nonce = randomBytes(24);
      const message = randomBytes(i * 37);

      const ours = seal(message, nonce, peer.publicKey, ourPrivate);
      expect(toHex(ours)).toBe(toHex(nacl.box(message, nonce, peer.publicKey, ourKey.bytes)));
      const openedByPeer = nacl.box.open(ours, nonce, ourPublic, peer.secretKey);
      expect(openedByPeer).not.toBeNull();
      expect(toHex(openedByPeer ?? new Uint8Array())).toBe(toHex(message));

      const theirs = nacl.box(message, nonce, ourPublic, peer.secretKey);
      expect(toHex(open(theirs, nonce, peer.publicKey, ourPrivate))).toBe(toHex(message));
    }
  });

  it('precomputed key matches one-shot calls', () => {
    const sharedKey = boxBeforeNm(bobPublic, alicePrivate);
    const sealed = sealAfterNm(naclMessage, naclNonce, sharedKey);
    expect(toHex(sealed)).toBe(naclBox);
    expect(toHex(openAfterNm(sealed, naclNonce, boxBeforeNm(alicePublic, bobPrivate)))).toBe(toHex(naclMessage));
  });

  it('seals an empty message to a bare tag', () => {
    const sealed = seal(new Uint8Array(), naclNonce, bobPublic, alicePrivate);
    expect(sealed.length).toBe(16);
    expect(toHex(sealed)).toBe(toHex(nacl.box(new Uint8Array(), naclNonce, bobPublic, alicePrivate)));
    expect(open(sealed, naclNonce, alicePublic, bobPrivate).length).toBe(0);
  });

  it('accepts unaligned Buffer views', () => {
    const backing = Buffer.alloc(1 + 32 + 24 + naclMessage.length);
    const privateView = backing.subarray(1, 33);
    const nonceView = backing.subarray(33, 57);
    const messageView = backing.subarray(57);
    privateView.set(alicePrivate);
    nonceView.set(naclNonce);
    messageView.set(naclMessage);
    expect(toHex(seal(messageView, nonceView, bobPublic, privateView))).toBe(naclBox);
  });

  it('rejects a flipped bit in tag or ciphertext', () => {
    for (const index of [0, 15, 16, naclBox.length / 2 - 1]) {
      const tampered = hex(naclBox);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      expect(() => open(tampered, naclNonce, alicePublic, bobPrivate)).toThrow(BoxOpenError);
    }
  });

  it('rejects the wrong key or nonce', () => {
    const otherNonce = naclNonce.slice();
    otherNonce[23] = (otherNonce[23] ?? 0) ^ 0x80;
    expect(() => open(hex(naclBox), otherNonce, alicePublic, bobPrivate)).toThrow(
      'box open failed: invalid Poly1305 tag (wrong key or nonce, or altered bytes)',
    );
    expect(() => open(hex(naclBox), naclNonce, bobPublic, bobPrivate)).toThrow(BoxOpenError);
  });

  it('rejects a box shorter than the tag', () => {
    expect(() => open(new Uint8Array(15), naclNonce, alicePublic, bobPrivate)).toThrow(
      'box open failed: box length 15 is shorter than the 16-byte tag',
    );
  });

  it('rejects a wrong nonce length', () => {
    expect(() => seal(naclMessage, naclNonce.subarray(0, 12), bobPublic, alicePrivate)).toThrow(
      'box: nonce length 12, expected 24',
    );
    expect(() => open(hex(naclBox), new Uint8Array(25), alicePublic, bobPrivate)).toThrow('box: nonce length 25, expected 24');
  });
});

describe('sealTo and openFrom', () => {
  it('round-trips with a random nonce', () => {
    const message = new TextEncoder().encode('{"version":2}');
    const first = sealTo(message, alicePublic, bobPrivate);
    const second = sealTo(message, alicePublic, bobPrivate);
    expect(first.length).toBe(24 + 16 + message.length);
    expect(toHex(first.subarray(0, 24))).not.toBe(toHex(second.subarray(0, 24)));
    expect(toHex(openFrom(first, bobPublic, alicePrivate))).toBe(toHex(message));
    expect(toHex(openFrom(second, bobPublic, alicePrivate))).toBe(toHex(message));
  });

  it('rejects input shorter than nonce plus tag', () => {
    expect(() => openFrom(new Uint8Array(39), bobPublic, alicePrivate)).toThrow(
      'box open failed: sealed length 39 is shorter than nonce plus tag (40 bytes)',
    );
  });
});
