/**
 * Hot reload of the config file (docs/configuration.md "Hot reload").
 *
 * A ConfigMap volume is not updated in place: kubelet writes the new files into a fresh
 * `..<timestamp>` directory, points a temporary symlink at it and renames that over `..data`
 * (an atomic rename(2)); `config.yaml` itself is a symlink to `..data/config.yaml` and never
 * changes (https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically,
 * kubernetes/pkg/volume/util/atomic_writer.go). A watch on the file would stay on the old inode,
 * so we watch its directory, debounce the burst of events, re-read through the symlinks and apply
 * only when the text changed. A slow poll backs the watch up where inotify events do not arrive
 * (some network and overlay file systems).
 *
 * Degrade-or-fail decision: an invalid new config never replaces a working one. It is logged with
 * every problem, counted as llmaudit_config_reloads_total{result="invalid"} and the old config
 * stays; the next change is tried again.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';

export type ReloadResult = 'ok' | 'invalid' | 'unchanged';

export interface ConfigWatcherOptions<T> {
  /** The config file; may be a symlink (the kubelet layout). */
  file: string;
  /** Text of the file → validated config; throws (a configuration error code) when invalid. */
  parse: (text: string) => T;
  /** Applies a new valid config; a throw counts as a failed reload and keeps the old config. */
  apply: (next: T) => void | Promise<void>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** llmaudit_config_reloads_total; labels result=ok|invalid. */
  reloads: { inc(labels: { result: 'ok' | 'invalid' }): void };
  /** Quiet time after the last event before re-reading (default 200 ms). */
  debounceMs?: number;
  /** Safety-net poll interval (default 10 s; 0 disables). */
  pollMs?: number;
  /** Text currently in effect (so a first event with the same text is not a reload). */
  initialText?: string;
}

export interface ConfigWatcher {
  start(): void;
  /** Re-reads now (also what every debounced event and poll tick does). */
  check(): Promise<ReloadResult>;
  close(): Promise<void>;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

export function createConfigWatcher<T>(opts: ConfigWatcherOptions<T>): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 200;
  const pollMs = opts.pollMs ?? 10_000;
  const dir = path.dirname(opts.file);
  let current = opts.initialText === undefined ? null : digest(opts.initialText);
  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let closed = false;
  // Checks run one at a time; a request during a run schedules exactly one more.
  let running: Promise<ReloadResult> | null = null;
  let again = false;

  async function once(): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readFile(opts.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      opts.reloads.inc({ result: 'invalid' });
      opts.logger.warn({ file: opts.file, code }, 'config file unreadable; keeping the current config');
      return 'invalid';
    }
    const d = digest(text);
    if (d === current) return 'unchanged';
    let next: T;
    try {
      next = opts.parse(text);
      await opts.apply(next);
    } catch (err) {
      // Remember the text: the same broken file is reported once, not on every poll.
      current = d;
      opts.reloads.inc({ result: 'invalid' });
      const e = err as { code?: string; message?: string; details?: { problems?: unknown } };
      opts.logger.error({ file: opts.file, code: e.code, problems: e.details?.problems, reason: e.message }, 'config reload rejected; keeping the current config');
      return 'invalid';
    }
    current = d;
    opts.reloads.inc({ result: 'ok' });
    opts.logger.info({ file: opts.file, sha256: d.slice(0, 12) }, 'config reloaded');
    return 'ok';
  }

  function check(): Promise<ReloadResult> {
    if (running !== null) {
      again = true;
      return running;
    }
    const run = (async () => {
      let result = await once();
      while (again && !closed) {
        again = false;
        const r = await once();
        if (r !== 'unchanged') result = r;
      }
      return result;
    })();
    running = run.finally(() => {
      running = null;
    });
    return running;
  }

  function schedule(): void {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), debounceMs);
  }

  return {
    start() {
      if (closed || watcher !== null) return;
      try {
        // Any event in the directory may be the ..data swap; the digest filters the rest.
        watcher = watch(dir, { persistent: false }, () => schedule());
        watcher.on('error', (err) => opts.logger.warn({ dir, code: (err as NodeJS.ErrnoException).code }, 'config directory watch failed; polling only'));
      } catch (err) {
        opts.logger.warn({ dir, code: (err as NodeJS.ErrnoException).code }, 'cannot watch the config directory; polling only');
      }
      if (pollMs > 0) {
        poll = setInterval(() => void check(), pollMs);
        poll.unref();
      }
    },
    check,
    async close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      watcher?.close();
      watcher = null;
      if (running !== null) await running;
    },
  };
}
