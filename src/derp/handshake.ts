/**
 * The server side of the DERP handshake, run on a connection right after the HTTP upgrade:
 * send ServerKey, wait for the client's ClientInfo, open its box to prove the client holds the
 * node key it presents, and ask the verifier whether that key may connect. ServerInfo is sent
 * later by the relay, once the client is registered, as Go's derpserver does.
 */
import type { Duplex } from 'node:stream';

import { BoxOpenError, openFrom } from '../../protocol/box.js';
import {
  type ClientInfo,
  DerpFrameError,
  FrameType,
  KeyLen,
  MaxClientInfoLen,
  NonceLen,
  decodeClientInfo,
  encodeServerKey,
  frameTypeName,
  parseClientInfoJson,
} from '../../protocol/derp/index.js';
import { NodePublic } from '../../protocol/key.js';
import type { X25519PrivateKey } from '../../protocol/x25519.js';
import { FrameInput, type FrameRule } from './frame-input.js';
import type { HandshakeFailure } from './stats.js';
import type { ClientVerifier } from './verifier.js';

export interface HandshakeOptions {
  serverKey: X25519PrivateKey;
  verifyClient: ClientVerifier;
  /** Time from the upgrade until the client is verified; Go's derpserver allows 10 s. */
  timeoutMs: number;
  remoteAddress: string;
}

export interface HandshakeResult {
  clientKey: NodePublic;
  info: ClientInfo;
  /** The reader, holding any bytes the client sent after its ClientInfo. */
  input: FrameInput;
}

/** A handshake that failed; `clientKey` is set once the ClientInfo frame was read. */
export class HandshakeError extends Error {
  constructor(
    readonly failure: HandshakeFailure,
    message: string,
    readonly clientKey?: NodePublic,
  ) {
    super(message);
    this.name = 'HandshakeError';
  }
}

const clientInfoRule: FrameRule = { min: KeyLen + NonceLen, max: MaxClientInfoLen };

function handshakeRule(type: number): FrameRule {
  if (type === FrameType.ClientInfo) return clientInfoRule;
  return { reject: `expected a ClientInfo frame first, got ${frameTypeName(type)}` };
}

/**
 * Runs the handshake. `head` holds bytes that arrived with the upgrade request, which a client
 * using fast start may have filled with its ClientInfo already. On success the transport is
 * paused and the caller takes over reading; on failure the caller closes the transport.
 * @throws {HandshakeError} naming the failure.
 */
export async function runHandshake(transport: Duplex, head: Buffer, options: HandshakeOptions): Promise<HandshakeResult> {
  const input = new FrameInput(handshakeRule);
  input.push(head);
  transport.write(encodeServerKey(options.serverKey.publicKey));

  const deadline = performance.now() + options.timeoutMs;
  const payload = await readClientInfoFrame(transport, input, options.timeoutMs);

  const { clientPublic, sealedInfo } = decodeClientInfo(payload);
  const clientKey = NodePublic.fromBytes(clientPublic);
  let info: ClientInfo;
  try {
    info = parseClientInfoJson(openFrom(sealedInfo, clientPublic, options.serverKey));
  } catch (error) {
    if (error instanceof DerpFrameError) throw new HandshakeError('protocol_error', error.message, clientKey);
    // A box that fails its tag is a BoxOpenError; a low-order client key fails inside X25519.
    const reason = error instanceof BoxOpenError ? error.message : `box open failed: ${(error as Error).message}`;
    throw new HandshakeError('bad_box', `ClientInfo ${reason}`, clientKey);
  }

  const admitted = await withTimeout(Promise.resolve(options.verifyClient(clientKey, options.remoteAddress)), deadline - performance.now());
  if (admitted === 'timeout') throw new HandshakeError('timeout', `client verification took longer than ${options.timeoutMs} ms`, clientKey);
  if (!admitted) throw new HandshakeError('rejected', 'node key is not admitted: it belongs to no registered, unexpired node', clientKey);
  return { clientKey, info, input };
}

/** Reads until the first frame is complete, then pauses the transport so no further bytes are lost or read. */
function readClientInfoFrame(transport: Duplex, input: FrameInput, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const finish = (outcome: { payload: Uint8Array } | { error: HandshakeError }) => {
      clearTimeout(timer);
      transport.off('data', onData);
      transport.off('close', onClose);
      transport.pause();
      if ('payload' in outcome) resolve(outcome.payload);
      else reject(outcome.error);
    };
    const check = () => {
      try {
        const event = input.next();
        if (event?.kind === 'frame') finish({ payload: event.payload });
      } catch (error) {
        if (!(error instanceof DerpFrameError)) throw error;
        finish({ error: new HandshakeError('protocol_error', error.message) });
      }
    };
    const onData = (chunk: Buffer) => {
      input.push(chunk);
      check();
    };
    const onClose = () => finish({ error: new HandshakeError('closed', 'connection closed before the ClientInfo frame arrived') });
    const timer = setTimeout(
      () => finish({ error: new HandshakeError('timeout', `no ClientInfo frame within ${timeoutMs} ms`) }),
      timeoutMs,
    );

    transport.on('data', onData);
    transport.on('close', onClose);
    check();
  });
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}
