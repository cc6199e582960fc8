/**
 * Paths of the Go binaries that interop/build.sh builds into interop/.bin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const interopBinDir = fileURLToPath(new URL('../../interop/.bin/', import.meta.url));

export type InteropBinary = 'tailscaled' | 'tailscale' | 'h2spec' | 'controlprobe' | 'derpprobe';

/** Returns the absolute path of a built interop binary, or throws if it is missing or not executable. */
export function binaryPath(name: InteropBinary): string {
  const file = path.join(interopBinDir, name);
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(
      `interop binary ${name} not found or not executable at ${file}. ` +
        'Build it with "bash interop/build.sh" (the interop vitest project runs it in globalSetup).',
    );
  }
  return file;
}

export const tailscaledPath = (): string => binaryPath('tailscaled');
export const tailscalePath = (): string => binaryPath('tailscale');
export const h2specPath = (): string => binaryPath('h2spec');
export const controlprobePath = (): string => binaryPath('controlprobe');
export const derpprobePath = (): string => binaryPath('derpprobe');
