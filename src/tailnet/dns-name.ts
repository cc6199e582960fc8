/**
 * MagicDNS labels from client host names: lower case, letters, digits and hyphens only, at
 * most 63 characters, no leading or trailing hyphen. Collisions get a numeric suffix
 * ("laptop", "laptop-1", "laptop-2").
 */

const MAX_LABEL_LENGTH = 63;

export function sanitizeHostname(hostname: string): string {
  const label = hostname
    .toLowerCase()
    .split('.')[0]!
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_LABEL_LENGTH)
    .replace(/-+$/g, '');
  return label === '' ? 'node' : label;
}

/** Picks the first of `base`, `base-1`, `base-2`, … that `taken` does not contain. */
export function uniqueLabel(base: string, taken: (label: string) => boolean): string {
  if (!taken(base)) return base;
  for (let n = 1; ; n++) {
    const suffix = `-${n}`;
    const candidate = `${base.slice(0, MAX_LABEL_LENGTH - suffix.length).replace(/-+$/, '')}${suffix}`;
    if (!taken(candidate)) return candidate;
  }
}

/** Checks an administrator-chosen label; returns an error message or undefined. */
export function validateLabel(label: string): string | undefined {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
    return `invalid name ${JSON.stringify(label)}: use 1 to 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen`;
  }
  return undefined;
}
