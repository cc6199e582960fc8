/**
 * The HTTP side of opening a control channel: how a client asks to switch a connection to
 * controlbase, for both transports Tailscale clients use.
 *
 * Plain upgrade: `POST /ts2021` (GET is accepted too) with `Upgrade: tailscale-control-protocol`,
 * `Connection: upgrade` and the 101-byte initiation in `X-Tailscale-Handshake` as standard
 * base64. The server answers `101 Switching Protocols` with the same Upgrade value and a
 * Connection header that contains `upgrade`, then writes the 51-byte response on the raw
 * connection. The path is always `/ts2021` at the host root, whatever path the login URL has.
 *
 * WebSocket (browser and js/wasm clients): `GET /ts2021?X-Tailscale-Handshake=<base64>` with
 * the WebSocket subprotocol `tailscale-control-protocol`; binary messages then carry the
 * controlbase byte stream, and message boundaries mean nothing.
 */
import { INITIATION_LENGTH } from '../controlbase/messages.js';

export const UPGRADE_PATH = '/ts2021';
export const UPGRADE_PROTOCOL = 'tailscale-control-protocol';
export const HANDSHAKE_HEADER = 'X-Tailscale-Handshake';
export const WEBSOCKET_SUBPROTOCOL = UPGRADE_PROTOCOL;

/** The response head a server writes before the handshake response. */
export const SWITCHING_PROTOCOLS_HEAD =
  'HTTP/1.1 101 Switching Protocols\r\n' + `Upgrade: ${UPGRADE_PROTOCOL}\r\n` + 'Connection: upgrade\r\n' + '\r\n';

/** A request that cannot become a control channel; `status` is the HTTP status to answer with. */
export class UpgradeRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UpgradeRequestError';
  }
}

/**
 * Decodes the initiation carried in the handshake header or query parameter.
 * @throws {UpgradeRequestError} when it is missing, not base64 or not 101 bytes long.
 */
export function decodeHandshakeValue(value: string | string[] | undefined | null): Buffer {
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new UpgradeRequestError(400, `expected one ${HANDSHAKE_HEADER} value, got ${value.length}`);
    value = value[0];
  }
  if (value === undefined || value === null || value === '') {
    throw new UpgradeRequestError(400, `missing ${HANDSHAKE_HEADER}`);
  }
  // Base64 of 101 bytes is 136 characters; anything far longer is not an initiation.
  if (value.length > 256 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    throw new UpgradeRequestError(400, `${HANDSHAKE_HEADER} is not standard base64`);
  }
  const initiation = Buffer.from(value, 'base64');
  if (initiation.length !== INITIATION_LENGTH) {
    throw new UpgradeRequestError(400, `${HANDSHAKE_HEADER} decodes to ${initiation.length} bytes, expected ${INITIATION_LENGTH}`);
  }
  return initiation;
}

/** Checks the Upgrade and Connection headers of a plain upgrade request. */
export function checkUpgradeHeaders(upgrade: string | undefined, connection: string | undefined): void {
  if (upgrade === undefined || upgrade === '') {
    throw new UpgradeRequestError(400, 'missing Upgrade header');
  }
  if (upgrade !== UPGRADE_PROTOCOL) {
    throw new UpgradeRequestError(400, `unknown Upgrade value ${JSON.stringify(upgrade.slice(0, 64))}, expected ${UPGRADE_PROTOCOL}`);
  }
  const tokens = (connection ?? '').split(',').map((token) => token.trim().toLowerCase());
  if (!tokens.includes('upgrade')) {
    throw new UpgradeRequestError(400, 'Connection header does not contain "upgrade"');
  }
}
