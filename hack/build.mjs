#!/usr/bin/env node
// Builds the CLIs with esbuild. Default: dependencies stay external (fast, for the repo's bins).
// --standalone: one self-contained file per binary, for the container images (Dockerfile.*).
// --out-root DIR: write <DIR>/sidecar/dist and <DIR>/operator/dist instead of the repository's
// (test/hardened runs standalone bundles without replacing the ones other tests use).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const standalone = process.argv.includes('--standalone');
const outRootAt = process.argv.indexOf('--out-root');
const outRoot = outRootAt === -1 ? root : path.resolve(process.argv[outRootAt + 1] ?? '.');

// The operator needs only KubeConfig from @kubernetes/client-node (kubeconfig and in-cluster
// loading, TLS material, tokens and exec/OIDC auth; operator/src/kube/client-node-api.ts does the
// HTTP through applyToHTTPSOptions). The package index, and its config.js through
// `./gen/index.js`, load the whole generated API client (every model and API class) and
// node-fetch: ~55 MiB of RSS in a process that never calls them. So config.js is bundled alone:
// the generated client it reaches only from makeApiClient is replaced by a stub that says so, and
// node-fetch (only in applyToFetchOptions) is required on first use. Its other dependencies stay
// external unless --standalone. docs/adr/0020.
const clientNodeConfig = path.join(root, 'node_modules', '@kubernetes', 'client-node', 'dist', 'config.js');
const KUBE_GEN_STUB = `const unavailable = () => {
  throw new Error('KubeConfig.makeApiClient: the generated API clients of @kubernetes/client-node are not part of this bundle');
};
export function createConfiguration() {
  return unavailable();
}
export class ServerConfiguration {
  constructor() {
    unavailable();
  }
}
`;
const KUBE_FETCH_LAZY = `export class Headers {
  constructor(init) {
    return new (require('node-fetch').Headers)(init);
  }
}
`;
const kubeConfigOnly = {
  name: 'kube-config-only',
  setup(b) {
    b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: clientNodeConfig }));
    b.onResolve({ filter: /^(\.\/gen\/index\.js|node-fetch)$/ }, (args) => (args.importer === clientNodeConfig ? { path: args.path, namespace: 'kube-config-only' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'kube-config-only' }, (args) => ({ contents: args.path === 'node-fetch' ? KUBE_FETCH_LAZY : KUBE_GEN_STUB, resolveDir: path.dirname(clientNodeConfig), loader: 'js' }));
  },
};

// Code splitting keeps what a command does not use out of its startup: `llmaudit verify` does not
// load undici, OpenTelemetry or prom-client, which only `llmaudit proxy` imports (dynamically).
const targets = [
  // The audit-log writer's thread (sidecar/src/auditlog/log-thread.ts finds it beside the bundle).
  { entry: 'sidecar/src/cli/main.ts', outdir: 'sidecar/dist', name: 'llmaudit', extra: [{ entry: 'sidecar/src/auditlog/log-worker.ts', name: 'log-worker' }] },
  { entry: 'operator/src/main.ts', outdir: 'operator/dist', name: 'llmaudit-operator', plugins: [kubeConfigOnly] },
];

const externalExceptWorkspaces = {
  name: 'external-except-workspaces',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@llmaudit/') ? undefined : { path: args.path, external: true }));
  },
};

for (const t of targets) {
  const entry = path.join(root, t.entry);
  if (!existsSync(entry)) continue;
  await build({
    entryPoints: [{ in: entry, out: t.name }, ...(t.extra ?? []).map((x) => ({ in: path.join(root, x.entry), out: x.name }))],
    outdir: path.join(outRoot, t.outdir),
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    logLevel: 'warning',
    // Workspace packages (@llmaudit/*) export TypeScript sources, so they are always bundled;
    // every other package stays external unless --standalone.
    // minifyWhitespace (standalone): V8 keeps every module's source text for as long as the module
    // lives (lazy compilation, Function.prototype.toString), and one character outside Latin-1 in
    // a comment (a package's ’ or —) makes it a two-byte string: the sidecar's bundle was 4.6 MiB
    // of source in the heap. Without comments and indentation it is 1.7 MB of one-byte text
    // (~7 MiB less RSS at rest, docs/adr/0027). Identifiers are kept, so a stack still names the
    // functions; the .map files map its positions.
    ...(standalone ? { minifySyntax: true, minifyWhitespace: true, plugins: t.plugins ?? [] } : { plugins: [...(t.plugins ?? []), externalExceptWorkspaces] }),
    // CommonJS dependencies inside an ESM bundle need require().
    banner: { js: "import { createRequire as __llmauditCreateRequire } from 'node:module'; const require = __llmauditCreateRequire(import.meta.url);" },
  });
}
