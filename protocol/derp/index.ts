/**
 * DERP, the relay protocol of Tailscale clients: frame constants, an incremental
 * frame reader, and an encoder and decoder for every frame type.
 *
 * Encoders return a whole frame (header and payload) as a Buffer ready to write.
 * Decoders take the payload of a frame from FrameReader, throw DerpFrameError
 * naming the frame and field when it breaks the protocol, and return byte fields
 * as views into the payload rather than copies.
 */
export * from './frame.js';
export * from './frame-reader.js';
export * from './disco.js';
export * from './server-key.js';
export * from './client-info.js';
export * from './server-info.js';
export * from './packets.js';
export * from './control.js';
export * from './peer-gone.js';
export * from './peer-present.js';
export * from './mesh.js';
