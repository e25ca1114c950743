// The images cannot be built here (no Docker engine), so their Dockerfiles are checked statically
// for what docs/style-guide.md requires: multi-stage, base images pinned by digest, numeric
// non-root user, a bundle-only runtime stage.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/helm.ts';

function parseDockerfile(text: string): Array<{ instr: string; args: string }> {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [instr = '', ...rest] = l.split(/\s+/);
      return { instr: instr.toUpperCase(), args: rest.join(' ') };
    });
}

describe.each(['Dockerfile.sidecar', 'Dockerfile.operator'])('%s', (file) => {
  const lines = parseDockerfile(readFileSync(path.join(repoRoot, file), 'utf8'));
  const froms = lines.filter((l) => l.instr === 'FROM');
  const lastStage = lines.slice(lines.lastIndexOf(froms[froms.length - 1]!));

  it('is multi-stage with every base image pinned by sha256 digest', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f.args).toMatch(/@sha256:[0-9a-f]{64}(\s|$)/);
  });

  it('runs as a numeric non-root user in the final stage', () => {
    const user = lastStage.filter((l) => l.instr === 'USER').at(-1);
    expect(user?.args).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/);
  });

  it('copies only the bundle from the build stage and installs nothing at runtime', () => {
    expect(lastStage.some((l) => l.instr === 'RUN')).toBe(false);
    const copies = lastStage.filter((l) => l.instr === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c.args).toMatch(/--from=build/);
  });

  it('has an exec-form entrypoint running the bundled file with node (and node\'s own flags only)', () => {
    const ep = lastStage.find((l) => l.instr === 'ENTRYPOINT');
    const argv = JSON.parse(ep?.args ?? 'null') as string[];
    expect(argv[0]).toBe('/nodejs/bin/node');
    expect(argv.at(-1)).toMatch(/^\/app\/llmaudit(-operator)?\.mjs$/);
    for (const flag of argv.slice(1, -1)) expect(flag).toMatch(/^--[a-z0-9-]+(=[0-9]+)?$/);
  });
});
