/**
 * Vitest globalSetup for the interop project: builds tailscaled, tailscale and the Go probes
 * with interop/build.sh, which returns at once when the binaries are up to date, and compiles
 * the TypeScript so tests can run the real `wonder` command from dist/.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const buildScript = fileURLToPath(new URL('../../interop/build.sh', import.meta.url));
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export default function setup(): void {
  const result = spawnSync('bash', [buildScript], { stdio: 'inherit' });
  if (result.error !== undefined) {
    throw new Error(`could not run bash ${buildScript}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    const outcome = result.status === null ? `was killed by ${result.signal}` : `exited with code ${result.status}`;
    throw new Error(`bash ${buildScript} ${outcome}; see its output above`);
  }

  const compile = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: projectRoot, stdio: 'inherit' });
  if (compile.status !== 0) throw new Error('npx tsc -p tsconfig.json failed; see its output above');
}
