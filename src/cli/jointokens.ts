/** `wonder jointokens create|list|revoke`: the tokens that workers trade for a pre-auth key with `wonder join`. */
import { Command, InvalidArgumentError } from 'commander';

import type { joinTokenJson } from '../api/schemas.js';
import { apiClientFromOptions } from './api-client.js';
import { formatBoolean, formatTime, outputFormat, outputOption, printJson, printTable } from './output.js';
import { parseTags } from './preauthkeys.js';

type JoinTokenJson = ReturnType<typeof joinTokenJson>;

function printTokens(command: Command, response: unknown, tokens: JoinTokenJson[]): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printTable(
    ['ID', 'PREFIX', 'USER', 'USED', 'EPHEMERAL', 'TAGS', 'EXPIRES', 'STATUS'],
    tokens.map((token) => [
      String(token.id),
      token.prefix,
      token.user,
      `${token.useCount}/${token.uses}`,
      formatBoolean(token.ephemeral),
      token.tags.join(',') || '-',
      formatTime(token.expiresAt),
      token.state,
    ]),
  );
}

/** Parses `--uses`. The coordinator checks the upper limit. */
function parseUses(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return Number(value);
}

export function addJoinTokensCommand(program: Command): void {
  const tokens = program
    .command('jointokens')
    .description('manage join tokens, which workers trade for a single-use pre-auth key with `wonder join`');

  tokens
    .command('create')
    .description('create a join token and print it; the coordinator keeps only a hash, so it is shown once')
    .requiredOption('--user <user>', 'user (ID or name) that machines joining with the token belong to')
    .option('--uses <count>', 'how many machines may join with the token (default: 1)', parseUses)
    .option('--ephemeral', 'join machines as ephemeral nodes, deleted once offline for tailnet.ephemeral_inactivity_timeout', false)
    .option('--tags <tags>', 'comma-separated tags for the machines that join, such as tag:ci,tag:worker', parseTags)
    .option('--expiration <time>', 'duration such as 1h or 7d, or an RFC 3339 time, at most 3650d away (default: 24h)')
    .addOption(outputOption())
    .action(async (options: { user: string; uses?: number; ephemeral: boolean; tags?: string[]; expiration?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ joinToken: JoinTokenJson; token: string }>('/join-tokens', {
        user: options.user,
        uses: options.uses,
        ephemeral: options.ephemeral,
        tags: options.tags ?? [],
        expiration: options.expiration,
      });
      if (outputFormat(command) === 'json') {
        printJson(response);
        return;
      }
      printTokens(command, response, [response.joinToken]);
      process.stdout.write(
        `\ntoken: ${response.token}\nThe coordinator stores only a hash of this token, so it cannot show it again.\n` +
          'On a worker, run: wonder join --coordinator <server URL> --token <this token>\n',
      );
    });

  tokens
    .command('list')
    .description('list join tokens (never their secret part)')
    .option('--user <user>', 'only the tokens of this user (ID or name)')
    .addOption(outputOption())
    .action(async (options: { user?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ joinTokens: JoinTokenJson[] }>('/join-tokens', { user: options.user });
      printTokens(command, response, response.joinTokens);
    });

  tokens
    .command('revoke')
    .description('revoke a join token so no more machines join with it; machines that joined stay')
    .argument('<token>', 'token ID or prefix')
    .addOption(outputOption())
    .action(async (token: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).delete<{ joinToken: JoinTokenJson }>(`/join-tokens/${encodeURIComponent(token)}`);
      printTokens(command, response, [response.joinToken]);
    });
}
