/**
 * The API's view of interactive logins waiting for an administrator. The control side keeps
 * the logins, because it keeps each client's register request open until approval.
 */
import type { MachinePublic, NodePublic } from '../../protocol/key.js';

export interface PendingLoginInfo {
  /** The ID at the end of the login URL the client printed. */
  id: string;
  machineKey: MachinePublic;
  nodeKey: NodePublic;
  /** The host name from the client's register request. */
  hostname: string;
  createdAt: Date;
}

export interface PendingLogins {
  /** Returns the logins that are waiting and not yet approved. */
  list(): PendingLoginInfo[];
  /**
   * Approves a login for `userId`. The control side registers the node when it responds to the
   * client's waiting register request, so the node may not exist yet when this returns.
   */
  approve(id: string, userId: number): void;
}
