/**
 * Wire layout of controlbase messages, Tailscale's framing of Noise for the control channel.
 *
 * Every message after the initiation starts with a 3-byte header: a type byte and a big-endian
 * uint16 payload length. The initiation carries the client's protocol version in front of that
 * header so the server can build the prologue before it decrypts anything:
 *
 *   initiation (101 bytes): version u16 | 0x01 | len u16 = 96 | ephemeral 32 | sealed machine key 48 | tag 16
 *   response    (51 bytes): 0x02 | len u16 = 48 | ephemeral 32 | tag 16
 *   error:                  0x03 | len u16 | ASCII text, sent instead of a response, unauthenticated
 *   record:                 0x04 | len u16 | ChaCha20-Poly1305 ciphertext with its 16-byte tag
 */

export const MessageType = {
  initiation: 0x01,
  response: 0x02,
  error: 0x03,
  record: 0x04,
} as const;

export const HEADER_LENGTH = 3;
export const VERSION_LENGTH = 2;

export const INITIATION_PAYLOAD_LENGTH = 32 + 48 + 16;
export const INITIATION_LENGTH = VERSION_LENGTH + HEADER_LENGTH + INITIATION_PAYLOAD_LENGTH;
export const RESPONSE_PAYLOAD_LENGTH = 32 + 16;
export const RESPONSE_LENGTH = HEADER_LENGTH + RESPONSE_PAYLOAD_LENGTH;

/** Largest message on the wire, header included; larger ones are rejected by both ends. */
export const MAX_MESSAGE_SIZE = 4096;
export const MAX_CIPHERTEXT_SIZE = MAX_MESSAGE_SIZE - HEADER_LENGTH;
/** Plaintext bytes that fit in one record once the 16-byte tag is added. */
export const MAX_PLAINTEXT_SIZE = MAX_CIPHERTEXT_SIZE - 16;

export function writeHeader(target: Uint8Array, offset: number, type: number, length: number): void {
  target[offset] = type;
  target[offset + 1] = length >>> 8;
  target[offset + 2] = length & 0xff;
}

/** Builds the error message a server sends instead of a handshake response. */
export function encodeErrorMessage(text: string): Buffer {
  const body = Buffer.from(text, 'ascii').subarray(0, MAX_MESSAGE_SIZE - HEADER_LENGTH);
  const message = Buffer.alloc(HEADER_LENGTH + body.length);
  writeHeader(message, 0, MessageType.error, body.length);
  body.copy(message, HEADER_LENGTH);
  return message;
}
