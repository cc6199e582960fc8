/**
 * Long-lived X25519 key pairs kept in files: the control server's Noise key and the DERP
 * relay's key. Clients remember the public halves, so each key must survive restarts: it is
 * created once, written with owner-only permissions, and read back on every start.
 */
import fs from 'node:fs';
import path from 'node:path';

import { PrivateKey } from '../protocol/key.js';
import { X25519PrivateKey } from '../protocol/x25519.js';

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

export interface KeyFileOptions {
  /** Consequence of replacing the key, which ends the error message for a damaged file, e.g. "clients will need to log in again". */
  replacementEffect: string;
}

/**
 * Reads the key at `file`, or creates it when the file does not exist.
 * @returns the key and whether it was created now.
 * @throws {KeyFileError} when the file exists but does not hold a private key; it is never overwritten.
 */
export function loadOrCreatePrivateKey(file: string, options: KeyFileOptions): { key: X25519PrivateKey; created: boolean } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new KeyFileError(`cannot read key file ${file}: ${(error as Error).message}`);
    }
    return { key: createKeyFile(file), created: true };
  }

  let parsed: PrivateKey;
  try {
    parsed = PrivateKey.parse(text.trim());
  } catch {
    throw new KeyFileError(
      `key file ${file} does not hold a key of the form privkey:<64 hex digits>; move it away to create a new key, and note that ${options.replacementEffect}`,
    );
  }
  return { key: new X25519PrivateKey(parsed.bytes), created: false };
}

function createKeyFile(file: string): X25519PrivateKey {
  const key = X25519PrivateKey.generate();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Write to a temporary name first, so a crash cannot leave a half-written key behind.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${PrivateKey.fromBytes(key.bytes).reveal()}\n`, { mode: 0o600, flag: 'wx' });
  fs.renameSync(temporary, file);
  return key;
}
