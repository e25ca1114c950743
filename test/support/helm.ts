// Runs the real helm binary that hack/install-tools.sh puts into .tools/bin.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const chartDir = path.join(repoRoot, 'charts/llmaudit');
export const helmBin = path.join(repoRoot, '.tools/bin/helm');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (!existsSync(helmBin)) throw new Error(`${helmBin} is missing: run 'bash hack/install-tools.sh' (make test does)`);
  return run(helmBin, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
}

/** `helm template` with the CRDs included, parsed into objects. */
export async function renderChart(args: string[] = [], namespace = 'llmaudit-system'): Promise<K8sObject[]> {
  const { stdout } = await helm(['template', 'llmaudit', chartDir, '--namespace', namespace, '--include-crds', ...args]);
  return parseAllDocuments(stdout)
    .map((d) => {
      if (d.errors.length > 0) throw d.errors[0];
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}
