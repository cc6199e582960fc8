/** `wonder apikeys create|list|expire`: keys for the admin API on the coordinator's public port. */
import { Command } from 'commander';

import type { apiKeyJson } from '../api/schemas.js';
import { apiClientFromOptions } from './api-client.js';
import { formatKeyStatus, formatTime, outputFormat, outputOption, printJson, printTable } from './output.js';

type ApiKeyJson = ReturnType<typeof apiKeyJson>;

function printApiKeys(command: Command, response: unknown, keys: ApiKeyJson[]): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printTable(
    ['ID', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS'],
    keys.map((key) => [
      String(key.id),
      key.prefix,
      formatTime(key.createdAt),
      formatTime(key.expiresAt, 'never'),
      formatTime(key.lastUsedAt, 'never'),
      formatKeyStatus(key),
    ]),
  );
}

export function addApiKeysCommand(program: Command): void {
  const apiKeys = program
    .command('apikeys').description('manage API keys for the admin API on the public port (--server with --api-key)');

  apiKeys
    .command('create')
    .description('create an API key and print it; the coordinator keeps only a hash, so it is shown once')
    .option('--expiration <time>', 'duration such as 90d or 12h, or an RFC 3339 time, at most 3650d away (default: 90d)')
    .addOption(outputOption())
    .action(async (options: { expiration?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ apiKey: ApiKeyJson; key: string }>('/apikeys', {
        expiration: options.expiration,
      });
      if (outputFormat(command) === 'json') {
        printJson(response);
        return;
      }
      printApiKeys(command, response, [response.apiKey]);
      process.stdout.write(`\nkey: ${response.key}\nThe coordinator stores only a hash of this key, so it cannot show it again.\n`);
    });

  apiKeys
    .command('list')
    .description('list API keys (never their secret part)')
    .addOption(outputOption())
    .action(async (_options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ apiKeys: ApiKeyJson[] }>('/apikeys');
      printApiKeys(command, response, response.apiKeys);
    });

  apiKeys
    .command('expire')
    .description('expire an API key so it is no longer accepted')
    .argument('<key>', 'key ID or prefix')
    .addOption(outputOption())
    .action(async (key: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ apiKey: ApiKeyJson }>(`/apikeys/${encodeURIComponent(key)}/expire`);
      printApiKeys(command, response, [response.apiKey]);
    });
}
