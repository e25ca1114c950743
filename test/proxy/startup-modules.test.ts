// What `llmaudit proxy` loads when it starts, read from esbuild's module graph of the CLI: every
// module reached from the CLI's entry, the proxy's runProxy (the proxy command's dynamic import) and
// the audit-log writer's thread through static imports and require() calls (dynamic imports are
// loaded on first use and not followed). docs/adr/0018 decision 6 and docs/adr/0027.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRIES = ['sidecar/src/cli/main.ts', 'sidecar/src/main.ts', 'sidecar/src/auditlog/log-worker.ts'];

let loaded: string[] = [];
let inputs: Metafile['inputs'] = {};

/** Every module reached from `entries` through static imports and require() calls. */
function staticClosure(entries: string[]): string[] {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const at = todo.pop() as string;
    if (seen.has(at)) continue;
    seen.add(at);
    for (const i of inputs[at]?.imports ?? []) if (i.kind !== 'dynamic-import' && !i.external && inputs[i.path] !== undefined) todo.push(i.path);
  }
  return [...seen];
}

beforeAll(async () => {
  const result = await build({
    entryPoints: ENTRIES,
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: path.join(root, '.startup-modules-out'),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  inputs = result.metafile.inputs;
  loaded = staticClosure(ENTRIES);
}, 60_000);

const reached = (fragment: string) => loaded.filter((p) => p.includes(fragment));

describe('the modules the sidecar loads at start', () => {
  it('include undici\'s Pool and request, and the config validator generated at build time', () => {
    expect(reached('node_modules/undici/lib/dispatcher/pool.js')).toHaveLength(1);
    expect(reached('node_modules/undici/lib/api/api-request.js')).toHaveLength(1);
    expect(reached('sidecar/src/config/config-validator.generated.ts')).toHaveLength(1);
  });

  it('leave out undici\'s index (its other dispatchers, WebSocket, caches, mocks), TypeBox and Ajv\'s compiler', () => {
    expect(reached('node_modules/undici/index.js')).toEqual([]);
    expect(reached('node_modules/@sinclair/typebox/')).toEqual([]);
    expect(reached('node_modules/ajv/dist/core.js')).toEqual([]);
    expect(reached('node_modules/ajv/dist/compile/')).toEqual([]);
  });

  it('leave out what a pod may never use: the OTLP exporter and ioredis', () => {
    expect(reached('node_modules/@opentelemetry/exporter-trace-otlp-http/')).toEqual([]);
    expect(reached('node_modules/ioredis/')).toEqual([]);
  });

  it('leave out the OpenTelemetry SDK: the tracer chooses ids and sampling without it', () => {
    expect(reached('sidecar/src/telemetry/otel-tracer.ts')).toHaveLength(1);
    expect(reached('sidecar/src/telemetry/span-pipeline.ts')).toEqual([]);
    // prom-client's default metrics require @opentelemetry/api (exemplars); nothing else of OpenTelemetry is reached.
    expect(reached('node_modules/@opentelemetry/').filter((p) => !p.startsWith('node_modules/@opentelemetry/api/'))).toEqual([]);
  });

  it('reach the SDK through the span pipeline, the tracer\'s dynamic import when a config exports', () => {
    const tracer = 'sidecar/src/telemetry/otel-tracer.ts';
    const pipeline = 'sidecar/src/telemetry/span-pipeline.ts';
    expect(inputs[tracer]?.imports.filter((i) => i.path === pipeline).map((i) => i.kind)).toEqual(['dynamic-import']);
    const onExport = staticClosure([pipeline]);
    expect(onExport.filter((p) => p.includes('node_modules/@opentelemetry/sdk-trace-base/')).length).toBeGreaterThan(0);
    expect(onExport.filter((p) => p.includes('node_modules/@opentelemetry/resources/')).length).toBeGreaterThan(0);
  });
});
