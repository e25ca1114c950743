// docs/errors.md must document exactly the error codes the code can raise (docs/style-guide.md: a table in
// docs/errors.md says what each code means and how to fix it; a test keeps table and code in step).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIDECAR_ERROR_REGISTRIES } from '../sidecar/src/error-codes.ts';
import { OPERATOR_ERROR_REGISTRIES } from '../operator/src/error-codes.ts';

const root = path.resolve(import.meta.dirname, '..');

function allRegistries(): Record<string, { message: string; exit?: number }> {
  const out: Record<string, { message: string; exit?: number }> = {};
  const regs = [...Object.values(SIDECAR_ERROR_REGISTRIES), ...Object.values(OPERATOR_ERROR_REGISTRIES)];
  for (const r of regs) Object.assign(out, r);
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('docs/errors.md', () => {
  const doc = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\|\s*`(LLMAUDIT_E_[A-Z0-9_]+)`/gm)].map((m) => m[1]));

  it('documents every registered code, and only those', () => {
    const registered = new Set(Object.keys(allRegistries()));
    expect([...registered].filter((c) => !documented.has(c)).sort()).toEqual([]);
    expect([...documented].filter((c) => !registered.has(c as string)).sort()).toEqual([]);
  });

  it('every LLMAUDIT_E_ code used in the sources is registered', () => {
    const registered = new Set(Object.keys(allRegistries()));
    const used = new Set<string>();
    for (const f of [...sourceFiles(path.join(root, 'sidecar/src')), ...sourceFiles(path.join(root, 'operator/src'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/LLMAUDIT_E_[A-Z0-9_]+/g)) used.add(m[0]);
    }
    expect([...used].filter((c) => !registered.has(c)).sort()).toEqual([]);
  });

  it('documents the exit status the CLI uses for each code', () => {
    for (const [code, spec] of Object.entries(allRegistries())) {
      if (spec.exit === undefined) continue;
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, code).toContain(`| ${spec.exit} |`);
    }
  });
});
