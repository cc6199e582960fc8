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
  const bytes = parseClientAddress(remoteAddress);
  if (bytes === undefined) return withoutPort(remoteAddress);
  if (bytes.length === 4) return formatIPAddress(bytes);
  return `${formatIPAddress(Uint8Array.from([...bytes.subarray(0, 8), ...new Uint8Array(8)]))}/64`;
}

/**
 * Parses an address with or without a port or zone, with IPv4-mapped IPv6 addresses as IPv4.
 * Returns undefined when the text is no address.
 */
export function parseClientAddress(text: string): Uint8Array | undefined {
  // A bare IPv6 address also ends in ":digits", so the whole text is tried first.
  for (const candidate of [text, withoutPort(text)]) {
    try {
      return unmapIPAddress(parseIPAddress(candidate.replace(/%.*$/, '')));
    } catch {
      // Not an address in this form; the next candidate drops the port.
    }
  }
  return undefined;
}

function withoutPort(text: string): string {
  return text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.replace(/:\d+$/, '');
}
