/** Expiration values in API requests: a duration from now ("1h", "90d") or an RFC 3339 time. */
import { parseDuration } from '../config/duration.js';

/** RFC 3339 date-time: a date, a time, optional fractional seconds and a mandatory zone. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export class ExpirationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpirationError';
  }
}

/**
 * Turns an expiration value into the time it names.
 * @throws {ExpirationError} naming the value when it is neither a positive duration nor an RFC 3339 time.
 */
export function parseExpiration(value: string, now: Date): Date {
  const text = value.trim();
  const ms = parseDuration(text);
  if (ms !== undefined && ms > 0) return new Date(now.getTime() + ms);
  const match = RFC3339.exec(text);
  if (match !== null && fieldsInRange(match.slice(1, 7).map(Number))) return new Date(text);
  throw new ExpirationError(
    `invalid expiration ${JSON.stringify(value)}: expected a duration such as "1h" or "90d", or an RFC 3339 time such as "2030-01-31T12:00:00Z"`,
  );
}

/** Checks the date and time fields, which `Date` would otherwise roll over ("02-31" becomes March). */
function fieldsInRange([year, month, day, hour, minute, second]: number[]): boolean {
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  const dateValid = date.getUTCFullYear() === year && date.getUTCMonth() === month! - 1 && date.getUTCDate() === day;
  return dateValid && hour! < 24 && minute! < 60 && second! < 60;
}
