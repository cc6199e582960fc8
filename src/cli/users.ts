/** `wonder users create|list|rename|delete`. */
import { Command } from 'commander';

import type { userJson } from '../api/schemas.js';
import { apiClientFromOptions } from './api-client.js';
import { formatTime, outputFormat, outputOption, printJson, printLine, printTable } from './output.js';

type UserJson = ReturnType<typeof userJson>;

function printUsers(command: Command, response: unknown, users: UserJson[]): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printTable(
    ['ID', 'NAME', 'DISPLAY NAME', 'EMAIL', 'CREATED'],
    users.map((user) => [String(user.id), user.name, user.displayName, user.email, formatTime(user.createdAt)]),
  );
}

export function addUsersCommand(program: Command): void {
  const users = program
    .command('users').description('manage users');

  users
    .command('list')
    .description('list users')
    .addOption(outputOption())
    .action(async (_options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ users: UserJson[] }>('/users');
      printUsers(command, response, response.users);
    });

  users
    .command('create')
    .description('create a user')
    .argument('<name>', 'user name: letters, digits and . _ @ + -')
    .option('--display-name <text>', 'name shown in clients (default: the user name)')
    .option('--email <address>', 'e-mail address')
    .addOption(outputOption())
    .action(async (name: string, options: { displayName?: string; email?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ user: UserJson }>('/users', {
        name,
        displayName: options.displayName,
        email: options.email,
      });
      printUsers(command, response, [response.user]);
    });

  users
    .command('rename')
    .description('rename a user')
    .argument('<user>', 'user ID or name')
    .argument('<new-name>', 'the new user name')
    .addOption(outputOption())
    .action(async (user: string, newName: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ user: UserJson }>(`/users/${encodeURIComponent(user)}/rename`, {
        name: newName,
      });
      printUsers(command, response, [response.user]);
    });

  users
    .command('delete')
    .description('delete a user who owns no nodes, with the user\'s pre-auth keys')
    .argument('<user>', 'user ID or name')
    .addOption(outputOption())
    .action(async (user: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).delete<{ user: UserJson }>(`/users/${encodeURIComponent(user)}`);
      if (outputFormat(command) === 'json') printJson(response);
      else printLine(`deleted user ${response.user.name} (ID ${response.user.id})`);
    });
}
