/** Captures a pino logger's output for tests: every line parsed, and a way to wait for one. */
import { Writable } from 'node:stream';

/** Captures every log line of a pino logger, parsed, and lets tests wait for one. */
export function captureLogs() {
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        logs.push(line);
        for (const waiter of waiters.splice(0)) {
          if (waiter.match(line)) waiter.resolve(line);
          else waiters.push(waiter);
        }
      }
      callback();
    },
  });
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 5_000): Promise<Record<string, unknown>> => {
    const found = logs.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  };
  return { logs, waitForLog, destination };
}

