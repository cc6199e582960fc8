/** `wonder nodes list|show|rename|expire|delete|pending|approve`. */
import { Command } from 'commander';

import type { nodeJson, pendingLoginJson, userJson } from '../api/schemas.js';
import { type ApiClient, ApiRequestError, apiClientFromOptions } from './api-client.js';
import { formatBoolean, formatTime, outputFormat, outputOption, printFields, printJson, printLine, printTable } from './output.js';

type NodeJson = ReturnType<typeof nodeJson>;
type PendingLoginJson = ReturnType<typeof pendingLoginJson>;
type UserJson = ReturnType<typeof userJson>;

function printNodes(command: Command, response: unknown, nodes: NodeJson[]): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printTable(
    ['ID', 'NAME', 'HOSTNAME', 'USER', 'ADDRESSES', 'ONLINE', 'LAST SEEN', 'EXPIRED'],
    nodes.map((node) => [
      String(node.id),
      node.name,
      node.hostname,
      node.user,
      node.ipAddresses.join(', '),
      formatBoolean(node.online),
      formatTime(node.lastSeen, 'never'),
      formatBoolean(node.expired),
    ]),
  );
}

function printNode(command: Command, response: unknown, node: NodeJson): void {
  if (outputFormat(command) === 'json') {
    printJson(response);
    return;
  }
  printFields([
    ['ID', String(node.id)],
    ['Stable ID', node.stableId],
    ['Name', node.name],
    ['Hostname', node.hostname],
    ['User', `${node.user} (ID ${node.userId})`],
    ['Addresses', node.ipAddresses.join(', ')],
    ['Machine key', node.machineKey],
    ['Node key', node.nodeKey],
    ['Online', formatBoolean(node.online)],
    ['Last seen', formatTime(node.lastSeen, 'never')],
    ['Created', formatTime(node.createdAt)],
    ['Key expiry', formatTime(node.keyExpiry, 'never')],
    ['Expired', formatBoolean(node.expired)],
    ['Ephemeral', formatBoolean(node.ephemeral)],
    ['Tags', node.tags.join(', ') || '-'],
  ]);
}

const nodeArgument = ['<node>', 'node ID or name'] as const;

/** Returns the API path of one node. `GET /nodes/pending` lists pending logins, so a node named "pending" is found by its ID. */
async function nodePath(client: ApiClient, node: string): Promise<string> {
  if (node !== 'pending') return `/nodes/${encodeURIComponent(node)}`;
  const { nodes } = await client.get<{ nodes: NodeJson[] }>('/nodes');
  const found = nodes.find((candidate) => candidate.name === node);
  if (found === undefined) throw new ApiRequestError(404, `node ${JSON.stringify(node)} not found`);
  return `/nodes/${found.id}`;
}

export function addNodesCommand(program: Command): void {
  const nodes = program
    .command('nodes').description('manage nodes and approve interactive logins');

  nodes
    .command('list')
    .description('list nodes')
    .option('--user <user>', 'only the nodes of this user (ID or name)')
    .addOption(outputOption())
    .action(async (options: { user?: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ nodes: NodeJson[] }>('/nodes', { user: options.user });
      printNodes(command, response, response.nodes);
    });

  nodes
    .command('show')
    .description('show one node')
    .argument(...nodeArgument)
    .addOption(outputOption())
    .action(async (node: string, _options: unknown, command: Command) => {
      const client = apiClientFromOptions(command.optsWithGlobals());
      const response = await client.get<{ node: NodeJson }>(await nodePath(client, node));
      printNode(command, response, response.node);
    });

  nodes
    .command('rename')
    .description("set a node's MagicDNS name")
    .argument(...nodeArgument)
    .argument('<new-name>', 'lower-case letters, digits and hyphens, at most 63 characters')
    .addOption(outputOption())
    .action(async (node: string, newName: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ node: NodeJson }>(`/nodes/${encodeURIComponent(node)}/rename`, {
        name: newName,
      });
      printNode(command, response, response.node);
    });

  nodes
    .command('expire')
    .description("expire a node's key now; the node must log in again")
    .argument(...nodeArgument)
    .addOption(outputOption())
    .action(async (node: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ node: NodeJson }>(`/nodes/${encodeURIComponent(node)}/expire`);
      printNode(command, response, response.node);
    });

  nodes
    .command('delete')
    .description('delete a node and release its addresses')
    .argument(...nodeArgument)
    .addOption(outputOption())
    .action(async (node: string, _options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).delete<{ node: NodeJson }>(`/nodes/${encodeURIComponent(node)}`);
      if (outputFormat(command) === 'json') printJson(response);
      else printLine(`deleted node ${response.node.name} (ID ${response.node.id})`);
    });

  nodes
    .command('pending')
    .description('list interactive logins waiting for approval')
    .addOption(outputOption())
    .action(async (_options: unknown, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).get<{ pending: PendingLoginJson[] }>('/nodes/pending');
      if (outputFormat(command) === 'json') {
        printJson(response);
        return;
      }
      printTable(
        ['ID', 'HOSTNAME', 'MACHINE KEY', 'WAITING SINCE'],
        response.pending.map((login) => [login.id, login.hostname, login.machineKey, formatTime(login.createdAt)]),
      );
    });

  nodes
    .command('approve')
    .description('approve an interactive login, registering the node for a user')
    .argument('<id>', 'login ID, the last part of the login URL the client printed')
    .requiredOption('--user <user>', 'user (ID or name) the node will belong to')
    .addOption(outputOption())
    .action(async (id: string, options: { user: string }, command: Command) => {
      const response = await apiClientFromOptions(command.optsWithGlobals()).post<{ login: PendingLoginJson; user: UserJson }>(
        `/nodes/pending/${encodeURIComponent(id)}/approve`,
        { user: options.user },
      );
      if (outputFormat(command) === 'json') printJson(response);
      else printLine(`approved login ${response.login.id} (${response.login.hostname}) for user ${response.user.name}`);
    });
}
