#!/usr/bin/env node
/**
 * The `wonder` command. `wonder serve` runs the coordinator. The admin commands send requests
 * to a running coordinator's API, through the admin socket or the public port, and never open
 * the database behind its back.
 */
import { Command, Option } from 'commander';

import { ApiConnectionError, ApiRequestError, CliUsageError, DEFAULT_ADMIN_SOCKET } from './api-client.js';
import { addApiKeysCommand } from './apikeys.js';
import { addJoinCommand } from './join.js';
import { addJoinTokensCommand } from './jointokens.js';
import { addNodesCommand } from './nodes.js';
import { escapeControlCharacters } from './output.js';
import { addPreAuthKeysCommand } from './preauthkeys.js';
import { addServeCommand } from './serve.js';
import { addUsersCommand } from './users.js';

const program = new Command('wonder')
  .description('Wonder coordinator: a Tailscale control server')
  .showHelpAfterError()
  .addOption(
    new Option('--socket <path>', 'admin socket of a coordinator on this machine (<data_dir>/admin.sock)').env('WONDER_ADMIN_SOCKET').default(DEFAULT_ADMIN_SOCKET),
  )
  .option('--server <url>', "reach a coordinator over its public URL instead of the admin socket; needs --api-key")
  .addOption(new Option('--api-key <key>', 'API key for --server, from `wonder apikeys create`').env('WONDER_API_KEY'));

// A reader that goes away early, such as `wonder … | head -2`, makes writes fail with EPIPE.
// Stop quietly then, as programs killed by SIGPIPE do, instead of crashing with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

addServeCommand(program);
addUsersCommand(program);
addPreAuthKeysCommand(program);
addNodesCommand(program);
addApiKeysCommand(program);
addJoinTokensCommand(program);
addJoinCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  // Checked by name because only `serve` loads the modules that define these errors.
  if (error instanceof Error && (error.name === 'ConfigError' || error.name === 'StartupError')) {
    process.stderr.write(`wonder: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof ApiRequestError || error instanceof ApiConnectionError || error instanceof CliUsageError) {
    // A coordinator's error message may quote values that clients chose, such as host names.
    process.stderr.write(`wonder: ${escapeControlCharacters(error.message)}\n`);
    process.exit(1);
  }
  process.stderr.write(`wonder: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
