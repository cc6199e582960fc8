/** Expiration values in API requests: a duration from now ("1h", "90d") or an RFC 3339 time. */
import { parseDuration } from '../config/duration.js';

/** RFC 3339 date-time: a date, a time, optional fractional seconds and a mandatory zone. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Maximum time from now to an expiration: 10 years, taken as 3650 days. */
export const MAX_EXPIRATION_MS = 3650 * 86_400_000;
const MAX_EXPIRATION_TEXT = '3650d (10 years) from now';

export class ExpirationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpirationError';
  }
}

/**
 * Turns an expiration value into the time it names.
 * @throws {ExpirationError} naming the value when it is neither a positive duration nor an RFC 3339
 * time, or when it lies more than {@link MAX_EXPIRATION_MS} after `now`.
 */
export function parseExpiration(value: string, now: Date): Date {
  const text = value.trim();
  const ms = parseDuration(text);
  if (ms !== undefined && ms > 0) {
    // Checked before building the Date, because "99999999999d" is beyond what Date can represent.
    if (ms > MAX_EXPIRATION_MS) throw tooFar(value);
    return new Date(now.getTime() + ms);
  }
  const match = RFC3339.exec(text);
  if (match !== null && fieldsInRange(match.slice(1, 7).map(Number))) {
    const time = new Date(text);
    if (time.getTime() - now.getTime() > MAX_EXPIRATION_MS) throw tooFar(value);
    return time;
  }
  throw new ExpirationError(
    `invalid expiration ${JSON.stringify(value)}: expected a duration such as "1h" or "90d", or an RFC 3339 time such as "2030-01-31T12:00:00Z"`,
  );
}

function tooFar(value: string): ExpirationError {
  return new ExpirationError(`invalid expiration ${JSON.stringify(value)}: the maximum is ${MAX_EXPIRATION_TEXT}`);
}

/** Checks the date and time fields, which `Date` would otherwise roll over ("02-31" becomes March). */
function fieldsInRange([year, month, day, hour, minute, second]: number[]): boolean {
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  const dateValid = date.getUTCFullYear() === year && date.getUTCMonth() === month! - 1 && date.getUTCDate() === day;
  return dateValid && hour! < 24 && minute! < 60 && second! < 60;
}
