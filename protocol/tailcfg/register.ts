/**
 * `/machine/register`: the request a client sends to log in, log out or rotate its node key,
 * and the response it expects. See tailcfg.go RegisterRequest and RegisterResponse.
 */
import type { Hostinfo } from './hostinfo.js';

export interface RegisterRequest {
  /** The client's capability version (131 for Tailscale 1.92). */
  Version: number;
  NodeKey: string;
  /** The previous node key when rotating; the all-zero key otherwise. */
  OldNodeKey?: string;
  NLKey?: string;
  /** Present only when the user supplied an auth key. */
  Auth?: { AuthKey?: string; Provider?: string; LoginName?: string } | null;
  /**
   * Requested key expiry. Go's zero time means no request; a time in the past is a logout
   * (1.92 sends 1970-01-01T00:02:03Z).
   */
  Expiry?: string;
  /** The AuthURL the client is waiting on, for an interactive login's long poll. */
  Followup?: string;
  Hostinfo?: Hostinfo;
  Ephemeral?: boolean;
  NodeKeySignature?: string | null;
  Tailnet?: string;
}

export interface RegisterResponse {
  User?: { ID: number; LoginName?: string; DisplayName: string; ProfilePicURL?: string };
  Login?: { ID: number; LoginName: string; DisplayName: string; ProfilePicURL?: string };
  /** The node key expired: the client generates a new one and registers again. */
  NodeKeyExpired?: boolean;
  /** Logged only by 1.92; the self node's MachineAuthorized in the netmap is what counts. */
  MachineAuthorized?: boolean;
  /** Non-empty: interactive login pending; the client shows this URL and polls with Followup. */
  AuthURL?: string;
  /** Non-empty: `tailscale up` fails and prints "backend error: <Error>". */
  Error?: string;
}
