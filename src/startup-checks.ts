/** Checks at start-up that log a warning for a setup that works but is likely a mistake. */
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from './log.js';

/**
 * Warns when group or others have any access to `dataDir`, because `mkdir` with mode 0700 keeps
 * the mode of an existing folder. Other users who can write the folder can replace the database,
 * the keys or the admin socket. The admin socket needs no key, and at each start it is open to
 * anyone who can enter the folder for a moment, until its chmod to 0600.
 */
export function warnIfOpenToOthers(dataDir: string, log: Logger): void {
  const mode = fs.statSync(dataDir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const resolved = path.resolve(dataDir);
  const octal = mode.toString(8).padStart(4, '0');
  log.warn({ dataDir: resolved, mode: octal }, `data_dir ${resolved} has mode ${octal}, so other users can reach its files; run chmod 700 ${resolved}`);
}
