/**
 * The Noise IK handshake of Tailscale's control protocol, for both roles.
 *
 * The client (initiator) knows the server's static key from `GET /key` in advance, so one round
 * trip authenticates both machine keys: the server learns the client's machine key from the
 * initiation and proves its own with the response. The prologue binds the client's protocol
 * version ("Tailscale Control Protocol v131" for 1.92) into the transcript, which is why the
 * server must read the version from the initiation instead of assuming one.
 */
import { MachinePublic } from '../key.js';
import { DecryptionError } from '../noise/primitives.js';
import { SymmetricState } from '../noise/symmetric-state.js';
import { X25519PrivateKey } from '../x25519.js';
import {
  HEADER_LENGTH,
  INITIATION_LENGTH,
  INITIATION_PAYLOAD_LENGTH,
  MessageType,
  RESPONSE_LENGTH,
  RESPONSE_PAYLOAD_LENGTH,
  VERSION_LENGTH,
  writeHeader,
} from './messages.js';
import { TransportCipher } from './transport-cipher.js';

export const PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';
export const PROLOGUE_PREFIX = 'Tailscale Control Protocol v';

const EMPTY = new Uint8Array(0);

/** The keys and identities both ends hold once the handshake completes. */
export interface HandshakeResult {
  /** The other end's static key: the client's machine key on the server, the server's key on the client. */
  peer: MachinePublic;
  protocolVersion: number;
  handshakeHash: Uint8Array;
  send: TransportCipher;
  receive: TransportCipher;
}

/** A handshake message that is malformed or fails authentication; `field` names what was wrong. */
export class HandshakeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`controlbase handshake: ${message}`);
    this.name = 'HandshakeError';
  }
}

/** The server's error text from a type 0x03 message, received instead of a response. */
export class ServerRejectedError extends Error {
  constructor(readonly serverMessage: string) {
    super(`controlbase handshake: server error: ${JSON.stringify(serverMessage)}`);
    this.name = 'ServerRejectedError';
  }
}

function startTranscript(protocolVersion: number, serverStaticPublic: Uint8Array): SymmetricState {
  const state = new SymmetricState(PROTOCOL_NAME);
  state.mixHash(Buffer.from(PROLOGUE_PREFIX + String(protocolVersion), 'ascii'));
  state.mixHash(serverStaticPublic);
  return state;
}

/** Reads the protocol version from an initiation without decrypting it, for error messages and logs. */
export function peekProtocolVersion(initiation: Uint8Array): number | undefined {
  return initiation.length >= VERSION_LENGTH ? (initiation[0]! << 8) | initiation[1]! : undefined;
}

export interface RespondOptions {
  /** Fixed ephemeral key for test vectors; random otherwise. */
  ephemeral?: X25519PrivateKey;
}

/**
 * Server side: checks a client's initiation and builds the response.
 * @throws {HandshakeError} naming the field that was wrong.
 */
export function respondToInitiation(
  initiation: Uint8Array,
  serverStatic: X25519PrivateKey,
  options: RespondOptions = {},
): { response: Buffer; result: HandshakeResult } {
  if (initiation.length !== INITIATION_LENGTH) {
    throw new HandshakeError('length', `initiation is ${initiation.length} bytes, expected ${INITIATION_LENGTH}`);
  }
  const protocolVersion = peekProtocolVersion(initiation)!;
  const type = initiation[VERSION_LENGTH]!;
  if (type !== MessageType.initiation) {
    throw new HandshakeError('type', `initiation has message type 0x${type.toString(16).padStart(2, '0')}, expected 0x01`);
  }
  const payloadLength = (initiation[VERSION_LENGTH + 1]! << 8) | initiation[VERSION_LENGTH + 2]!;
  if (payloadLength !== INITIATION_PAYLOAD_LENGTH) {
    throw new HandshakeError('payload length', `initiation declares ${payloadLength} payload bytes, expected ${INITIATION_PAYLOAD_LENGTH}`);
  }

  const payload = initiation.subarray(VERSION_LENGTH + HEADER_LENGTH);
  const clientEphemeral = payload.subarray(0, 32);
  const sealedMachineKey = payload.subarray(32, 80);
  const tag = payload.subarray(80, 96);

  const state = startTranscript(protocolVersion, serverStatic.publicKey);

  // -> e, es, s, ss
  state.mixHash(clientEphemeral);
  state.mixKey(sharedSecret(serverStatic, clientEphemeral, 'client ephemeral key'));
  const machineKeyBytes = decrypt(state, sealedMachineKey, 'machine key');
  state.mixKey(sharedSecret(serverStatic, machineKeyBytes, 'machine key'));
  decrypt(state, tag, 'initiation tag');

  // <- e, ee, se
  const ephemeral = options.ephemeral ?? X25519PrivateKey.generate();
  const response = Buffer.alloc(RESPONSE_LENGTH);
  writeHeader(response, 0, MessageType.response, RESPONSE_PAYLOAD_LENGTH);
  response.set(ephemeral.publicKey, HEADER_LENGTH);
  state.mixHash(ephemeral.publicKey);
  state.mixKey(sharedSecret(ephemeral, clientEphemeral, 'client ephemeral key'));
  state.mixKey(sharedSecret(ephemeral, machineKeyBytes, 'machine key'));
  response.set(state.encryptAndHash(EMPTY), HEADER_LENGTH + 32);

  const [clientToServer, serverToClient] = state.split();
  return {
    response,
    result: {
      peer: MachinePublic.fromBytes(machineKeyBytes),
      protocolVersion,
      handshakeHash: state.handshakeHash,
      send: new TransportCipher(serverToClient),
      receive: new TransportCipher(clientToServer),
    },
  };
}

export interface InitiateOptions {
  /** Fixed ephemeral key for test vectors; random otherwise. */
  ephemeral?: X25519PrivateKey;
}

/** A client handshake in progress: send `initiation`, then pass the server's reply to `finish`. */
export interface PendingHandshake {
  initiation: Buffer;
  /**
   * Completes the handshake from the server's first message.
   * @throws {ServerRejectedError} when the server sent an error message.
   * @throws {HandshakeError} when the response is malformed or fails authentication.
   */
  finish(response: Uint8Array): HandshakeResult;
}

/** Client side: builds the initiation for a server whose static key is `serverPublic`. */
export function initiateHandshake(
  machineKey: X25519PrivateKey,
  serverPublic: MachinePublic,
  protocolVersion: number,
  options: InitiateOptions = {},
): PendingHandshake {
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 0xffff) {
    throw new RangeError(`protocol version ${protocolVersion} does not fit in 16 bits`);
  }
  const ephemeral = options.ephemeral ?? X25519PrivateKey.generate();
  const state = startTranscript(protocolVersion, serverPublic.bytes);

  const initiation = Buffer.alloc(INITIATION_LENGTH);
  initiation.writeUInt16BE(protocolVersion, 0);
  writeHeader(initiation, VERSION_LENGTH, MessageType.initiation, INITIATION_PAYLOAD_LENGTH);
  const payloadOffset = VERSION_LENGTH + HEADER_LENGTH;

  // -> e, es, s, ss
  initiation.set(ephemeral.publicKey, payloadOffset);
  state.mixHash(ephemeral.publicKey);
  state.mixKey(sharedSecret(ephemeral, serverPublic.bytes, 'server key'));
  initiation.set(state.encryptAndHash(machineKey.publicKey), payloadOffset + 32);
  state.mixKey(sharedSecret(machineKey, serverPublic.bytes, 'server key'));
  initiation.set(state.encryptAndHash(EMPTY), payloadOffset + 80);

  return {
    initiation,
    finish(response: Uint8Array): HandshakeResult {
      if (response.length >= HEADER_LENGTH && response[0] === MessageType.error) {
        const length = (response[1]! << 8) | response[2]!;
        throw new ServerRejectedError(Buffer.from(response.subarray(HEADER_LENGTH, HEADER_LENGTH + length)).toString('ascii'));
      }
      if (response.length !== RESPONSE_LENGTH) {
        throw new HandshakeError('length', `response is ${response.length} bytes, expected ${RESPONSE_LENGTH}`);
      }
      if (response[0] !== MessageType.response) {
        throw new HandshakeError('type', `response has message type 0x${response[0]!.toString(16).padStart(2, '0')}, expected 0x02`);
      }
      const payloadLength = (response[1]! << 8) | response[2]!;
      if (payloadLength !== RESPONSE_PAYLOAD_LENGTH) {
        throw new HandshakeError('payload length', `response declares ${payloadLength} payload bytes, expected ${RESPONSE_PAYLOAD_LENGTH}`);
      }

      // <- e, ee, se
      const serverEphemeral = response.subarray(HEADER_LENGTH, HEADER_LENGTH + 32);
      state.mixHash(serverEphemeral);
      state.mixKey(sharedSecret(ephemeral, serverEphemeral, 'server ephemeral key'));
      state.mixKey(sharedSecret(machineKey, serverEphemeral, 'server ephemeral key'));
      decrypt(state, response.subarray(HEADER_LENGTH + 32, HEADER_LENGTH + 48), 'response tag');

      const [clientToServer, serverToClient] = state.split();
      return {
        peer: serverPublic,
        protocolVersion,
        handshakeHash: state.handshakeHash,
        send: new TransportCipher(clientToServer),
        receive: new TransportCipher(serverToClient),
      };
    },
  };
}

function sharedSecret(privateKey: X25519PrivateKey, peerPublic: Uint8Array, field: string): Uint8Array {
  try {
    return privateKey.sharedSecret(peerPublic);
  } catch (error) {
    throw new HandshakeError(field, `${field} is not a usable Curve25519 point (${(error as Error).message})`);
  }
}

function decrypt(state: SymmetricState, ciphertext: Uint8Array, field: string): Uint8Array {
  try {
    return state.decryptAndHash(ciphertext);
  } catch (error) {
    if (error instanceof DecryptionError) {
      // Either the sender does not hold the static key it claims, or it used another server key.
      throw new HandshakeError(field, `${field} failed authentication`);
    }
    throw error;
  }
}
