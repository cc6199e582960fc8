/**
 * The key under which per-address limits count a client: pending interactive logins, control
 * connections and failed joins.
 */
import { formatIPAddress, parseIPAddress, unmapIPAddress } from '../protocol/ip-address.js';

/**
 * Returns the key that per-address limits count a client under: its IPv4 address, or the /64 of
 * its IPv6 address, because one IPv6 host usually has a whole /64 to pick addresses from.
 * `remoteAddress` is an address with or without a port: "ip:port", "[ipv6]:port" or "ip".
 */
export function sourceAddressKey(remoteAddress: string): string {
  const bytes = parseAddress(remoteAddress);
  if (typeof bytes === 'string') return bytes;
  if (bytes.length === 4) return formatIPAddress(bytes);
  return `${formatIPAddress(Uint8Array.from([...bytes.subarray(0, 8), ...new Uint8Array(8)]))}/64`;
}

/** Parses an address with or without a port, or returns the text without its port when it is no address. */
function parseAddress(remoteAddress: string): Uint8Array | string {
  // A bare IPv6 address also ends in ":digits", so the whole text is tried first.
  try {
    return unmapIPAddress(parseIPAddress(remoteAddress.replace(/%.*$/, '')));
  } catch {
    // Not an address without a port; try the forms with one below.
  }
  const host = remoteAddress.startsWith('[') ? remoteAddress.slice(1, remoteAddress.indexOf(']')) : remoteAddress.replace(/:\d+$/, '');
  try {
    return unmapIPAddress(parseIPAddress(host.replace(/%.*$/, '')));
  } catch {
    return host;
  }
}
