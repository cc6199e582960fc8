/**
 * STUN binding requests and responses, byte-compatible with tailscale.com/net/stun
 * v1.92.5, for the STUN port of a DERP node.
 */
export * from './message.js';
export * from './fingerprint.js';
export * from './binding-request.js';
export * from './binding-response.js';
