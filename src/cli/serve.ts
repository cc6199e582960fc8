/**
 * `wonder serve`: runs the coordinator until SIGINT or SIGTERM. The server modules are imported
 * only when this command runs, so the admin commands start without loading them.
 */
import { type Command, Option } from 'commander';

export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the coordinator (loopback, ./data and an embedded default with no config file)')
    .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('WONDER_CONFIG'))
    .option('--listen-addr <host:port>', 'address the HTTP listener binds (listen_addr)')
    .option('--server-url <url>', 'URL clients use as --login-server (server_url)')
    .option('--data-dir <dir>', 'folder for the database and keys (data_dir)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (log.level)')
    .option('--set <setting=value...>', 'set any setting by its dotted path, for example --set control.echo_route=true')
    .action(async (flags: Record<string, string | string[] | undefined>) => {
      const { ConfigError, loadConfig } = await import('../config/config.js');
      const { createLogger } = await import('../log.js');
      const { startCoordinator } = await import('../server.js');

      const overrides: Record<string, string> = {};
      const named: Array<[string, string]> = [
        ['listenAddr', 'listen_addr'],
        ['serverUrl', 'server_url'],
        ['dataDir', 'data_dir'],
        ['logLevel', 'log.level'],
      ];
      for (const [flag, setting] of named) {
        const value = flags[flag];
        if (typeof value === 'string') overrides[setting] = value;
      }
      for (const assignment of (flags.set as string[] | undefined) ?? []) {
        const separator = assignment.indexOf('=');
        if (separator <= 0) throw new ConfigError(`--set ${JSON.stringify(assignment)}: expected SETTING=VALUE`);
        overrides[assignment.slice(0, separator)] = assignment.slice(separator + 1);
      }

      const config = loadConfig({ file: flags.config as string | undefined, env: process.env, overrides });
      const log = createLogger({ level: config.log.level });
      const coordinator = await startCoordinator(config, log);

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping');
        coordinator.close().then(
          () => process.exit(0),
          (error: unknown) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
