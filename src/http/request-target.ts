/**
 * Parsing of an HTTP request target from a raw Node request. `new URL()` throws on targets
 * such as `//[`, and an exception in an `upgrade` or `request` listener ends the process, so
 * every raw handler parses through here and answers 400 when this returns undefined.
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://request.invalid');
  } catch {
    return undefined;
  }
}
