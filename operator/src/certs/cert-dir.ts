/**
 * --cert-mode cert-manager|openshift: another controller writes tls.crt/tls.key into a Secret
 * mounted at --cert-dir (and injects the caBundle itself). The kubelet updates a mounted Secret
 * by swapping the `..data` symlink, which fs.watch on the directory reports as a rename; a slow
 * poll backs the watch up (some file systems report nothing), and a reload happens only when the
 * bytes changed and the pair parses.
 * https://kubernetes.io/docs/concepts/configuration/secret/#mounted-secrets-are-updated-automatically
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { operatorError } from '../errors.ts';

export interface CertKeyPair {
  cert: string;
  key: string;
}

export interface CertDirSource {
  /** Reads the pair now; calls onChange when it differs from the last good one. */
  reload(): Promise<CertKeyPair>;
  start(): Promise<void>;
  close(): void;
}

export interface CertDirOptions {
  dir: string;
  onChange: (pair: CertKeyPair) => void;
  onError?: (err: unknown) => void;
  pollMs?: number;
}

export async function readCertDir(dir: string): Promise<CertKeyPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(path.join(dir, 'tls.crt'), 'utf8'), readFile(path.join(dir, 'tls.key'), 'utf8')]);
  } catch (err) {
    throw operatorError('LLMAUDIT_E_WEBHOOK_TLS', `cannot read tls.crt/tls.key in ${dir}`, { cause: err });
  }
  try {
    // Parse both before use: a half-written pair must never replace a working one.
    const x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error('tls.key does not match tls.crt');
  } catch (err) {
    throw operatorError('LLMAUDIT_E_WEBHOOK_TLS', `invalid certificate pair in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key };
}

export function createCertDirSource(opts: CertDirOptions): CertDirSource {
  let last: CertKeyPair | null = null;
  let watcher: FSWatcher | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let debounce: ReturnType<typeof setTimeout> | undefined;

  async function reload(): Promise<CertKeyPair> {
    const pair = await readCertDir(opts.dir);
    if (last === null || last.cert !== pair.cert || last.key !== pair.key) {
      last = pair;
      opts.onChange(pair);
    }
    return pair;
  }
  const quietReload = () => {
    reload().catch((err: unknown) => opts.onError?.(err));
  };

  return {
    reload,
    async start() {
      await reload();
      if (timer !== undefined) return;
      try {
        watcher = watch(opts.dir, () => {
          // A symlink swap fires several events: read once they settle.
          if (debounce !== undefined) clearTimeout(debounce);
          debounce = setTimeout(quietReload, 100);
        });
        watcher.on('error', (err) => opts.onError?.(err));
      } catch (err) {
        opts.onError?.(err);
      }
      timer = setInterval(quietReload, opts.pollMs ?? 30_000);
      timer.unref();
    },
    close() {
      watcher?.close();
      watcher = undefined;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (debounce !== undefined) clearTimeout(debounce);
      debounce = undefined;
    },
  };
}
