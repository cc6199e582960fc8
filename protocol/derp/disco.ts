/**
 * Recognition of disco packets, the encrypted path-discovery messages that
 * tailscaled sends to peers through DERP. Facts from tailscale.com/disco v1.92.5.
 */
import { KeyLen, NonceLen } from './frame.js';

/** The prefix of every disco packet: "TS💬" as UTF-8. */
export const DiscoMagic: Uint8Array = new Uint8Array([0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac]);

/** Shortest disco packet: magic, the sender's 32-byte disco key and a 24-byte nonce. */
export const MinDiscoPacketLen = DiscoMagic.length + KeyLen + NonceLen;

/**
 * Reports whether packet looks like a disco packet, as Go's
 * disco.LooksLikeDiscoWrapper does. A DERP server replies to a SendPacket for an
 * unknown destination with PeerGone(NotHere) only when this returns true.
 */
export function looksLikeDiscoPacket(packet: Uint8Array): boolean {
  if (packet.length < MinDiscoPacketLen) {
    return false;
  }
  for (let i = 0; i < DiscoMagic.length; i++) {
    if (packet[i] !== DiscoMagic[i]) {
      return false;
    }
  }
  return true;
}
