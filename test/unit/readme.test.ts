/** Checks that the README's configuration table names every setting the configuration accepts. */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { LEAF_PATHS } from '../../src/config/config.js';

const readme = fs.readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** Returns the settings named in the first column of the table under "## Configuration". */
function documentedSettings(): Set<string> {
  const start = readme.indexOf('\n## Configuration\n');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  const firstCells = rows.map((row) => row.split('|')[1] ?? '');
  return new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([a-z0-9_.]+)`/g)].map((match) => match[1]!)));
}

describe('README configuration table', () => {
  it.each(LEAF_PATHS)('names %s', (setting) => {
    expect(documentedSettings()).toContain(setting);
  });
});
