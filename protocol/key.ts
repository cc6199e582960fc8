/**
 * Tailscale's 32-byte key types and their text forms.
 *
 * Every key travels in JSON as a type prefix followed by 64 hexadecimal digits, for example
 * `nodekey:4a5d…`. Clients emit lower-case hex and accept either case. A key made of 32 zero
 * bytes is how Go marshals an unset key (for example `OldNodeKey` on a first registration),
 * so `parseOptional` reads it as absent.
 */

/** Length in bytes of every Curve25519 key and of the raw form behind each text prefix. */
export const KEY_LENGTH = 32;

/** Text prefixes, as Tailscale's `types/key` package writes them. */
export const KeyPrefix = {
  machinePublic: 'mkey:',
  nodePublic: 'nodekey:',
  discoPublic: 'discokey:',
  private: 'privkey:',
  networkLockPublic: 'nlpub:',
  challengePublic: 'chalpub:',
} as const;

export type KeyPrefixText = (typeof KeyPrefix)[keyof typeof KeyPrefix];

const HEX_DIGITS = /^[0-9a-fA-F]{64}$/;

/** A 32-byte key with a fixed text prefix. Instances are immutable. */
abstract class Key32 {
  readonly bytes: Uint8Array;

  protected constructor(bytes: Uint8Array, kind: string) {
    if (bytes.length !== KEY_LENGTH) {
      throw new RangeError(`${kind}: expected ${KEY_LENGTH} bytes, got ${bytes.length}`);
    }
    this.bytes = Uint8Array.from(bytes);
  }

  abstract get prefix(): KeyPrefixText;

  isZero(): boolean {
    return this.bytes.every((b) => b === 0);
  }

  equals(other: Key32 | undefined): boolean {
    if (other === undefined || other.prefix !== this.prefix) return false;
    return Buffer.from(this.bytes).equals(other.bytes);
  }

  /** Hex digits without the prefix; useful as a map key. */
  hex(): string {
    return Buffer.from(this.bytes).toString('hex');
  }

  toString(): string {
    return this.prefix + this.hex();
  }

  toJSON(): string {
    return this.toString();
  }

  /** Returns the first 8 hex digits in brackets, such as `[4a5d9d5b]`, the short form for logs. */
  short(): string {
    return `[${this.hex().slice(0, 8)}]`;
  }
}

/**
 * Decodes `<prefix><64 hex digits>` into 32 bytes.
 * @throws {KeyParseError} naming the expected form and the offending text.
 */
export function parseKeyBytes(text: string, prefix: KeyPrefixText, kind: string): Uint8Array {
  if (typeof text !== 'string' || !text.startsWith(prefix)) {
    throw new KeyParseError(kind, text, `expected prefix "${prefix}"`);
  }
  const digits = text.slice(prefix.length);
  if (!HEX_DIGITS.test(digits)) {
    throw new KeyParseError(kind, text, `expected "${prefix}" followed by 64 hexadecimal digits`);
  }
  return Uint8Array.from(Buffer.from(digits, 'hex'));
}

export class KeyParseError extends Error {
  constructor(
    readonly kind: string,
    readonly text: unknown,
    reason: string,
  ) {
    let quoted = String(text);
    if (typeof text === 'string') quoted = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
    super(`invalid ${kind} ${quoted}: ${reason}`);
    this.name = 'KeyParseError';
  }
}

/** Parses an optional key field: null, an empty string and the all-zero key all read as absent. */
function parseOptionalKey<T extends Key32>(text: string | null | undefined, parse: (text: string) => T): T | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  const key = parse(text);
  return key.isZero() ? undefined : key;
}

/** A machine's long-lived Noise static public key (`mkey:`), proven by the ts2021 handshake. */
export class MachinePublic extends Key32 {
  private constructor(bytes: Uint8Array) {
    super(bytes, 'machine key');
  }
  get prefix() {
    return KeyPrefix.machinePublic;
  }
  static fromBytes(bytes: Uint8Array): MachinePublic {
    return new MachinePublic(bytes);
  }
  static parse(text: string): MachinePublic {
    return new MachinePublic(parseKeyBytes(text, KeyPrefix.machinePublic, 'machine key'));
  }
  static parseOptional(text: string | null | undefined): MachinePublic | undefined {
    return parseOptionalKey(text, MachinePublic.parse);
  }
}

/** A node's WireGuard public key (`nodekey:`); it also identifies the node to DERP relays. */
export class NodePublic extends Key32 {
  private constructor(bytes: Uint8Array) {
    super(bytes, 'node key');
  }
  get prefix() {
    return KeyPrefix.nodePublic;
  }
  static fromBytes(bytes: Uint8Array): NodePublic {
    return new NodePublic(bytes);
  }
  static parse(text: string): NodePublic {
    return new NodePublic(parseKeyBytes(text, KeyPrefix.nodePublic, 'node key'));
  }
  static parseOptional(text: string | null | undefined): NodePublic | undefined {
    return parseOptionalKey(text, NodePublic.parse);
  }
}

/** A node's disco public key (`discokey:`), used for path discovery between peers. */
export class DiscoPublic extends Key32 {
  private constructor(bytes: Uint8Array) {
    super(bytes, 'disco key');
  }
  get prefix() {
    return KeyPrefix.discoPublic;
  }
  static fromBytes(bytes: Uint8Array): DiscoPublic {
    return new DiscoPublic(bytes);
  }
  static parse(text: string): DiscoPublic {
    return new DiscoPublic(parseKeyBytes(text, KeyPrefix.discoPublic, 'disco key'));
  }
  static parseOptional(text: string | null | undefined): DiscoPublic | undefined {
    return parseOptionalKey(text, DiscoPublic.parse);
  }
}

/** A tailnet lock public key (`nlpub:`) that clients send in every register request. */
export class NetworkLockPublic extends Key32 {
  private constructor(bytes: Uint8Array) {
    super(bytes, 'tailnet lock key');
  }
  get prefix() {
    return KeyPrefix.networkLockPublic;
  }
  static fromBytes(bytes: Uint8Array): NetworkLockPublic {
    return new NetworkLockPublic(bytes);
  }
  static parse(text: string): NetworkLockPublic {
    return new NetworkLockPublic(parseKeyBytes(text, KeyPrefix.networkLockPublic, 'tailnet lock key'));
  }
  static parseOptional(text: string | null | undefined): NetworkLockPublic | undefined {
    return parseOptionalKey(text, NetworkLockPublic.parse);
  }
}

/** A Curve25519 private key (`privkey:`), the text form Tailscale uses for machine and node private keys. */
export class PrivateKey extends Key32 {
  private constructor(bytes: Uint8Array) {
    super(bytes, 'private key');
  }
  get prefix() {
    return KeyPrefix.private;
  }
  static fromBytes(bytes: Uint8Array): PrivateKey {
    return new PrivateKey(bytes);
  }
  static parse(text: string): PrivateKey {
    return new PrivateKey(parseKeyBytes(text, KeyPrefix.private, 'private key'));
  }

  /** Returns a redacted form: a private key prints its digits only through `reveal`, so a stray log line cannot leak one. */
  override short(): string {
    return 'privkey:[redacted]';
  }
  override toJSON(): string {
    return 'privkey:[redacted]';
  }
  /** Returns the full text form, for writing the key to its file. */
  reveal(): string {
    return super.toString();
  }
  override toString(): string {
    return 'privkey:[redacted]';
  }
}
