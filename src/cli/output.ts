/** Output of the admin commands: a readable table by default, or the API's JSON with `--output json`. */
import { type Command, Option } from 'commander';

export type OutputFormat = 'table' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * C0 and C1 control characters, DEL, and the Unicode line separators and bidirectional
 * formatting characters, which could move the cursor, change colors or reorder text in an admin's
 * terminal.
 */
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Replaces terminal control characters with visible escapes (`\n`, `\x1b`, `\u202e`). Table and
 * message output shows values that clients choose, such as host names, so it goes through here.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(UNSAFE_CHARACTERS, (character) => {
    const named = NAMED_ESCAPES[character];
    if (named !== undefined) return named;
    const code = character.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Prints rows under a header, each column as wide as its widest cell, with control characters escaped. */
export function printTable(headers: string[], unsafeRows: string[][]): void {
  const rows = unsafeRows.map((row) => row.map(escapeControlCharacters));
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  const lines = [format(headers), ...rows.map(format)];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Prints one record as name and value lines, with control characters in the values escaped. */
export function printFields(fields: Array<[string, string]>): void {
  const width = Math.max(...fields.map(([name]) => name.length));
  process.stdout.write(`${fields.map(([name, value]) => `${`${name}:`.padEnd(width + 2)}${escapeControlCharacters(value)}`.trimEnd()).join('\n')}\n`);
}

/** Prints one line of text whose values may come from clients, with control characters escaped. */
export function printLine(text: string): void {
  process.stdout.write(`${escapeControlCharacters(text)}\n`);
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
