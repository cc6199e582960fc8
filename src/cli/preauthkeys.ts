/** `wonder preauthkeys create|list|expire|delete`. */
import { Command } from 'commander';

import type { preAuthKeyJson } from '../api/schemas.js';
import { apiClientFromOptions } from './api-client.js';
import { formatBoolean, formatKeyStatus, formatTime, outputFormat, outputOption, printJson, printLine, printTable } from './output.js';

type PreAuthKeyJson = ReturnType<typeof preAuthKeyJson>;

function printKeys(command: Command, response: unknown, keys: PreAuthKeyJson[]): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printTable(
    ['ID', 'PREFIX', 'USER', 'REUSABLE', 'EPHEMERAL', 'USED', 'TAGS', 'EXPIRES', 'STATUS'],
    keys.map((key) => [
      String(key.id),
      key.prefix,
      key.user,
      formatBoolean(key.reusable),
      formatBoolean(key.ephemeral),
      String(key.useCount),
      key.tags.join(',') || '-',
      formatTime(key.expiresAt, 'never'),
      formatKeyStatus(key),
    ]),
  );
}

/** Splits `--tags tag:a,tag:b`; the coordinator checks each tag. */
export function parseTags(value: string): string[] {
  return value
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '');
}

export function addPreAuthKeysCommand(program: Command): void {
  const keys = program
    .command('preauthkeys').description('manage pre-auth keys, which register nodes without an interactive login');

  keys
    .command('list')
    .description('list pre-auth keys (never their secret part)')
    .option('--user <user>', 'only the keys of this user (ID or name)')
    .addOption(outputOption())
    .action(async (options: { user?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ preAuthKeys: PreAuthKeyJson[] }>('/preauthkeys', { user: options.user });
      printKeys(command, response, response.preAuthKeys);
    });

  keys
    .command('create')
    .description('create a pre-auth key and print it; the coordinator keeps only a hash, so it is shown once')
    .requiredOption('--user <user>', 'user (ID or name) that nodes registered with the key belong to')
    .option('--reusable', 'allow the key to register more than one node', false)
    .option('--ephemeral', 'register ephemeral nodes, deleted once offline for tailnet.ephemeral_inactivity_timeout', false)
    .option('--expiration <time>', 'duration such as 1h or 30d, or an RFC 3339 time, at most 3650d away (default: 1h)')
    .option('--tags <tags>', 'comma-separated tags for the registered nodes, such as tag:server,tag:prod', parseTags)
    .addOption(outputOption())
    .action(async (options: { user: string; reusable: boolean; ephemeral: boolean; expiration?: string; tags?: string[] }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ preAuthKey: PreAuthKeyJson; key: string }>('/preauthkeys', {
        user: options.user,
        reusable: options.reusable,
        ephemeral: options.ephemeral,
        expiration: options.expiration,
        tags: options.tags ?? [],
      });
      if (outputFormat(command) === 'json') {
        printJson(response);
        return;
      }
      printKeys(command, response, [response.preAuthKey]);
      process.stdout.write(`\nkey: ${response.key}\nThe coordinator stores only a hash of this key, so it cannot show it again.\n`);
    });

  keys
    .command('expire')
    .description('expire a pre-auth key so it registers no more nodes; nodes it registered stay')
    .argument('<key>', 'key ID or prefix')
    .addOption(outputOption())
    .action(async (key: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ preAuthKey: PreAuthKeyJson }>(
        `/preauthkeys/${encodeURIComponent(key)}/expire`,
      );
      printKeys(command, response, [response.preAuthKey]);
    });

  keys
    .command('delete')
    .description('delete a pre-auth key; nodes it registered stay')
    .argument('<key>', 'key ID or prefix')
    .addOption(outputOption())
    .action(async (key: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).delete<{ preAuthKey: PreAuthKeyJson }>(`/preauthkeys/${encodeURIComponent(key)}`);
      if (outputFormat(command) === 'json') printJson(response);
      else printLine(`deleted pre-auth key ${response.preAuthKey.prefix} (ID ${response.preAuthKey.id})`);
    });
}
