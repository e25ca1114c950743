/**
 * Writes the AuditPolicy CRD generated from operator/src/api/audit-policy.ts to
 * charts/llmaudit/crds/. `--check` writes nothing and exits 1 when the committed file differs
 * (CI: `make crds-check`), so the TypeScript types and the CRD can never drift apart.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { auditPolicyCrdYaml } from '../operator/src/api/crd.ts';

const target = fileURLToPath(new URL('../charts/llmaudit/crds/auditpolicies.llmaudit.dev.yaml', import.meta.url));

function firstDifference(a: string, b: string): string {
  const al = a.split('\n');
  const bl = b.split('\n');
  for (let i = 0; i < Math.max(al.length, bl.length); i++) {
    if (al[i] !== bl[i]) return `line ${i + 1}:\n  committed: ${al[i] ?? '<end of file>'}\n  generated: ${bl[i] ?? '<end of file>'}`;
  }
  return '';
}

const generated = auditPolicyCrdYaml();
if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== generated) {
    process.stderr.write(`${target} is out of date (first difference at ${firstDifference(committed, generated)})\nrun \`make crds\` and commit the result\n`);
    process.exit(1);
  }
  process.stdout.write(`${target} is up to date\n`);
} else {
  await writeFile(target, generated);
  process.stdout.write(`wrote ${target}\n`);
}
