/**
 * Where the sidecar's pino lines go: a file descriptor (stdout in a pod), the lines gathered up to
 * LOG_LINES_MIN_WRITE bytes and written in one asynchronous write, so a busy proxy does not pay a
 * write per exchange (docs/adr/0018-sidecar-cost-per-exchange.md, decision 12). At the latest a
 * quarter of a second later the caller's timer flushes what is gathered (`flush`).
 *
 * The lines are held as Buffers (sonic-boom's buffer mode), not as one string. In its default mode
 * sonic-boom appends each line to a string and, on every write, takes the UTF-8 length of that
 * whole string, which makes V8 flatten it into a fresh copy: with 32 KiB gathered before a write,
 * every line copied half of that on average, ~14 KiB of the event loop's ~50 KiB of allocation
 * per exchange (decision 16). In buffer mode it keeps an array of the lines and their byte
 * lengths, and joins them once per write.
 */
import pino from 'pino';

/** Bytes of lines gathered before one write (the caller's timer flushes fewer). */
export const LOG_LINES_MIN_WRITE = 32 * 1024;

/** What pino writes to, and what the sidecar flushes. */
export interface LineDestination {
  write(line: string): boolean;
  /** Writes what is gathered; `cb` once it is written. */
  flush(cb?: (err?: Error) => unknown): void;
  /** Writes what is gathered before returning (exit paths). */
  flushSync(): void;
}

/**
 * Lines gathered for `fd` (sonic-boom through pino.destination, which also flushes it
 * synchronously when the process exits).
 */
export function gatheredLines(fd: number): LineDestination {
  const boom = pino.destination({ dest: fd, sync: false, minLength: LOG_LINES_MIN_WRITE, maxWrite: 2 * LOG_LINES_MIN_WRITE, contentMode: 'buffer' });
  // In buffer mode sonic-boom's write takes a Buffer (its typings declare the string of the default mode).
  const writeBytes = boom.write.bind(boom) as unknown as (bytes: Buffer) => boolean;
  return {
    write: (line) => writeBytes(Buffer.from(line, 'utf8')),
    flush: (cb) => boom.flush(cb),
    flushSync: () => boom.flushSync(),
  };
}
