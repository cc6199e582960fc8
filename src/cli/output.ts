/** Output of the admin commands: a readable table by default, or the API's JSON with `--output json`. */
import { type Command, Option } from 'commander';

export type OutputFormat = 'table' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows under a header, each column as wide as its widest cell. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  const lines = [format(headers), ...rows.map(format)];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Prints one record as name and value lines. */
export function printFields(fields: Array<[string, string]>): void {
  const width = Math.max(...fields.map(([name]) => name.length));
  process.stdout.write(`${fields.map(([name, value]) => `${`${name}:`.padEnd(width + 2)}${value}`.trimEnd()).join('\n')}\n`);
}

/** Formats an API time for a table: seconds precision in UTC, or `none` when there is no time. */
export function formatTime(iso: string | null, none = '-'): string {
  return iso === null ? none : iso.replace(/\.\d+Z$/, 'Z');
}

/** Describes a key's state: revoked by an administrator, past its expiry, or valid. */
export function formatKeyStatus(key: { revokedAt: string | null; expired: boolean }): string {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expired) return 'expired';
  return 'valid';
}

export function formatBoolean(value: boolean): string {
  return value ? 'yes' : 'no';
}

/** Returns the `--output` value of the command that is running. */
export function outputFormat(command: Command): OutputFormat {
  return (command.opts() as { output: OutputFormat }).output;
}
