// A one-line progress bar on stderr, drawn only when stderr is a terminal (never in pipes, CI logs
// or --json runs), redrawn at most every 100 ms.
import type { CliIo } from './cli-context.ts';

export interface Progress {
  update(done: number, total: number, label: string): void;
  done(): void;
}

const NOOP: Progress = { update: () => undefined, done: () => undefined };

export function createProgress(io: CliIo, enabled: boolean, now: () => number = Date.now): Progress {
  if (!enabled || !io.stderrIsTTY) return NOOP;
  let last = 0;
  let drawn = false;
  return {
    update(done, total, label) {
      const t = now();
      if (t - last < 100) return;
      last = t;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const width = 30;
      const full = Math.round(frac * width);
      io.stderr(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% ${label}`);
      drawn = true;
    },
    done() {
      if (drawn) io.stderr('\r\x1b[K');
    },
  };
}
