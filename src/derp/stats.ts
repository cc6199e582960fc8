/**
 * Counters of the relay since it started. They are plain numbers so tests can read them and a
 * metrics exporter can publish them later.
 */

/** Reason a relayed packet was not delivered. */
export type DropReason =
  /** The destination's send queue was full, so its oldest packet made room for a newer one. */
  | 'queue_full'
  /** No client with the destination key is connected. */
  | 'unknown_destination'
  /** The destination disconnected with the packet still queued. */
  | 'destination_gone';

/** Reason a connection ended before the client was registered. */
export type HandshakeFailure =
  /** No ClientInfo frame within the handshake timeout. */
  | 'timeout'
  /** The client closed the connection before its ClientInfo arrived. */
  | 'closed'
  /** The first frame was not a valid ClientInfo frame. */
  | 'protocol_error'
  /** The ClientInfo box did not open with the presented key. */
  | 'bad_box'
  /** The client verifier rejected the node key. */
  | 'rejected';

export interface RelayStats {
  /** Upgraded connections that reached the handshake. */
  connectionsAccepted: number;
  handshakeFailures: Record<HandshakeFailure, number>;
  /** Connections whose key was already connected at registration time. */
  duplicateConnections: number;
  /** Connections closed because the client broke the protocol after the handshake. */
  protocolErrors: number;
  /** Connections closed because the client did not read its data within the write timeout. */
  writeTimeouts: number;
  /** Frames of types the relay does not handle, which it read and discarded. */
  unknownFrames: number;
  packetsReceived: number;
  bytesReceived: number;
  packetsSent: number;
  bytesSent: number;
  packetsDropped: Record<DropReason, number>;
  pingsReceived: number;
  /** Pings left unanswered because the client was not reading its earlier frames. */
  pongsDropped: number;
  peerGoneDisconnected: number;
  peerGoneNotHere: number;
  /** Times a client's reads were paused because it exceeded its byte rate limit. */
  rateLimitPauses: number;
}

export function newRelayStats(): RelayStats {
  return {
    connectionsAccepted: 0,
    handshakeFailures: { timeout: 0, closed: 0, protocol_error: 0, bad_box: 0, rejected: 0 },
    duplicateConnections: 0,
    protocolErrors: 0,
    writeTimeouts: 0,
    unknownFrames: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    packetsSent: 0,
    bytesSent: 0,
    packetsDropped: { queue_full: 0, unknown_destination: 0, destination_gone: 0 },
    pingsReceived: 0,
    pongsDropped: 0,
    peerGoneDisconnected: 0,
    peerGoneNotHere: 0,
    rateLimitPauses: 0,
  };
}
