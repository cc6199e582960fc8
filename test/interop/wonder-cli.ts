/** Runs the compiled `wonder` command against a test coordinator's admin socket. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface WonderResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function wonder(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<WonderResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, '--socket', path.join(dataDir, 'admin.sock'), ...args],
      { timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs `wonder … --output json` and parses the output, failing with stderr on a non-zero exit. */
export async function wonderJson<T>(dataDir: string, args: string[]): Promise<T> {
  const result = await wonder(dataDir, [...args, '--output', 'json']);
  if (result.code !== 0) throw new Error(`wonder ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
