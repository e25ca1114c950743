// A lazily imported CommonJS package must be read the same way from the sources (Node's loader)
// and from the standalone bundle (esbuild's split chunk: only a default export).
import { describe, expect, it } from 'vitest';
import { namedExport } from './named-export.ts';

class Exporter {}

describe('namedExport', () => {
  it('takes the named export of a namespace as Node gives it', () => {
    expect(namedExport({ Exporter, default: { Exporter: class Other {} } }, 'Exporter')).toBe(Exporter);
  });

  it('finds it on the default export of a bundled CommonJS chunk', () => {
    const ns = { default: { Exporter } } as { default: { Exporter: typeof Exporter }; Exporter?: typeof Exporter };
    expect(namedExport(ns, 'Exporter')).toBe(Exporter);
  });

  it('says which export is missing', () => {
    const ns = { default: {} } as { default: object; Exporter?: typeof Exporter };
    expect(() => namedExport(ns, 'Exporter')).toThrow('the imported module has no export named Exporter');
  });
});
