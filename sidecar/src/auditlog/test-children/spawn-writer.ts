// Builds writer-child.ts into one self-contained file (fast to start, unlike tsx) and spawns it.
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export async function bundleWriterChild(outDir: string): Promise<string> {
  const outfile = path.join(outDir, 'writer-child.mjs');
  await build({
    entryPoints: [path.join(import.meta.dirname, 'writer-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return outfile;
}

export interface ChildWriter {
  child: ChildProcess;
  /** Lines the child printed so far. */
  lines: string[];
  /** Resolves when the child printed a line matching `pred`. */
  waitFor(pred: (lines: string[]) => boolean): Promise<void>;
  /** Resolves with all output once the process has exited. */
  exited: Promise<string[]>;
}

export function spawnWriter(bundle: string, args: string[]): ChildWriter {
  const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters: Array<{ pred: (l: string[]) => boolean; resolve: () => void }> = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of [...waiters]) if (w.pred(lines)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<string[]>((resolve) => child.on('close', () => resolve(lines)));
  return {
    child,
    lines,
    exited,
    waitFor: (pred) =>
      new Promise<void>((resolve, reject) => {
        if (pred(lines)) return resolve();
        waiters.push({ pred, resolve });
        void exited.then(() => reject(new Error(`child exited before the expected output; stderr: ${stderr}`)));
      }),
  };
}
