// The bundles exactly as the images carry them: `node hack/build.mjs --standalone` (what both
// Dockerfiles run), written to a temp folder so the repository's own dist folders stay as they are.
import { execFile } from 'node:child_process';
import { chmod, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface Bundles {
  /** The folder Dockerfile.sidecar copies to /app. */
  sidecar: string;
  /** The folder Dockerfile.operator copies to /app. */
  operator: string;
}

/** Builds into `<outRoot>/{sidecar,operator}/dist`, readable by any UID (the images COPY them as root, 0644/0755). */
export async function buildStandaloneBundles(outRoot: string): Promise<Bundles> {
  await run(process.execPath, [path.join(repoRoot, 'hack/build.mjs'), '--standalone', '--out-root', outRoot], { cwd: repoRoot });
  const openUp = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await openUp(p);
      else await chmod(p, 0o644);
    }
  };
  await openUp(outRoot);
  return { sidecar: path.join(outRoot, 'sidecar/dist'), operator: path.join(outRoot, 'operator/dist') };
}
