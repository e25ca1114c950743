/**
 * What reconciling every AuditPolicy costs the operator at cluster scale, against the in-memory
 * API server (operator/src/kube/memory-api.ts): N labelled pods (half injected, half missing the
 * sidecar) spread over N/20 namespaces, one AuditPolicy per namespace.
 *
 * Rows per size (1k and 10k pods):
 *   - operator: the leader's controllers end to end — paginated initial lists (500 per page),
 *     then every policy reconciled (ConfigMap, signing Secret, PVC, status, Events) — wall time
 *     and heap (peak sampled every 5 ms, and after GC; the heap includes the in-memory API
 *     server's own copy of every object, the same in both columns).
 *   - pod list: one relist of the pod watch cache over real HTTP (the in-memory API served on the
 *     Kubernetes REST paths, the operator's own client) in pages of 500 vs as one answer (the
 *     baseline before pagination): time and peak heap added while listing (both ends of the
 *     connection live in this process).
 *   - pod lookup: the pods of every policy's namespace from the namespace index vs by scanning
 *     the whole cache per policy (the baseline before the index).
 *
 * With KUBEBUILDER_ASSETS set, rows of the operator binary against a real API server follow
 * (bench/operator-apiserver.ts): 0 and 10,000 Deployments by default, `--apiserver-sizes
 * 0,10000,50000` for more (creating 50,000 takes minutes), `--baseline-bundle FILE` to run an
 * older build beside the current one (build it first: `node hack/build.mjs`), `--bundle FILE` for the
 * current one (default: operator/dist, the repository's build).
 *
 * `--node-arg-sets "NAME=FLAGS;NAME=FLAGS"` runs every bundle once per named V8 flag set (rows
 * `current+NAME`), `--rounds N` each of them N times per size, alternating. `--floor "FLAGS"` adds
 * rows of a bare client listing the same Deployments metadata-only, paged and as a watch-list,
 * under those V8 flags (bench/operator-list-floor.ts): what is left to gain in the operator.
 *
 *   npm run bench -- operator [--sizes 1000,10000] [--apiserver-sizes 0,10000] [--bundle FILE] [--baseline-bundle FILE]
 *     [--node-args "FLAGS" | --node-arg-sets "NAME=FLAGS;…"] [--rounds N] [--floor "FLAGS"]
 *   (or: npx tsx bench/operator.ts)
 */
import { setFlagsFromString } from 'node:v8';
import { KubeConfig } from '@kubernetes/client-node';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import { LABEL_INJECT, ANNOTATION_INJECTED } from '../operator/src/api/names.ts';
import { ControllerManager } from '../operator/src/controllers/controller-manager.ts';
import { signingKeys } from '../operator/src/controllers/signing-keys.ts';
import { silentLog } from '../operator/src/controllers/types.ts';
import { WatchLoop } from '../operator/src/controllers/watch-loop.ts';
import { createEventEmitter } from '../operator/src/kube/events.ts';
import { ClientNodeKubeApi } from '../operator/src/kube/client-node-api.ts';
import { MemoryKubeApi } from '../operator/src/kube/memory-api.ts';
import type { KubeApi } from '../operator/src/kube/types.ts';
import { serveMemoryApi } from '../operator/src/testing/memory-api-server.ts';
import { renderConfigMapData } from '../operator/src/render/render-config.ts';
import { asObject, pod, testPolicy } from '../operator/src/testing/fixtures.ts';
import { envtestAssets } from '../test/envtest/harness.ts';
import { DEFAULT_BUNDLE, printApiServerTable, runApiServerBench, type ApiServerBenchRow } from './operator-apiserver.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

export interface OperatorBenchRow {
  pods: number;
  namespaces: number;
  /** operator: first lists + every policy reconciled. */
  reconcileAllMs: number;
  reconcilePeakHeapMb: number;
  heapAfterGcMb: number;
  listPages: number;
  /** One relist of the pod cache: paged (500) vs one answer. */
  relistPagedMs: number;
  relistPagedPeakMb: number;
  relistOneShotMs: number;
  relistOneShotPeakMb: number;
  /** The pods of every policy's namespace: index vs full scan per policy. */
  lookupIndexedMs: number;
  lookupScanMs: number;
}

/** Samples heapUsed every 5 ms while `fn` runs; returns its time and the peak above the starting heap. */
async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; peakMb: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  return { value, ms: Math.round(ms), peakMb: mb(peak - base) };
}

async function populate(pods: number): Promise<{ api: MemoryKubeApi; namespaces: string[] }> {
  const api = new MemoryKubeApi();
  const namespaces = Array.from({ length: Math.max(1, Math.round(pods / 20)) }, (_, i) => `team-${i}`);
  for (const ns of namespaces) await api.create('auditpolicies', asObject(testPolicy('default', ns)));
  for (let i = 0; i < pods; i++) {
    const ns = namespaces[i % namespaces.length] as string;
    const injected = i % 2 === 0;
    await api.create('pods', pod(`app-${i}`, ns, { labels: { [LABEL_INJECT]: 'true', app: `app-${i % 7}` }, annotations: injected ? { [ANNOTATION_INJECTED]: 'default' } : {} }));
  }
  return { api, namespaces };
}

async function reconcileAll(api: MemoryKubeApi, namespaces: string[]): Promise<number> {
  // The handler runs only after start(), when `manager` exists.
  const policies: WatchLoop = new WatchLoop({ api, resource: 'auditpolicies', handler: { upsert: (o) => manager.policyChanged(o), delete: (o) => manager.policyChanged(o) }, resyncMs: 0 });
  const manager: ControllerManager = new ControllerManager({
    api,
    policies,
    log: silentLog,
    render: (p) => renderConfigMapData(p),
    ...signingKeys,
    emitEvent: createEventEmitter({ api, component: 'llmaudit-operator', instance: 'bench' }),
    watch: { resyncMs: 0 },
  });
  policies.start();
  await manager.start();
  // Status writes come back as watch events and are reconciled once more (writing nothing).
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    await manager.drain();
  }
  const done = namespaces.filter((ns) => (api.peek('auditpolicies', ns, 'default')?.status as { podsMissing?: number } | undefined)?.podsMissing !== undefined).length;
  if (done !== namespaces.length) throw new Error(`only ${done} of ${namespaces.length} policies have status`);
  await manager.close();
  await policies.close();
  return api.listCount.get('pods') ?? 0;
}

async function relist(api: KubeApi, pageSize: number): Promise<WatchLoop> {
  const loop = new WatchLoop({ api, resource: 'pods', labelSelector: `${LABEL_INJECT}=true`, handler: { upsert: () => undefined, delete: () => undefined }, resyncMs: 0, pageSize });
  loop.start();
  await loop.synced;
  await loop.close();
  return loop;
}

export async function runOperatorBench(sizes: number[]): Promise<OperatorBenchRow[]> {
  const rows: OperatorBenchRow[] = [];
  for (const pods of sizes) {
    const { api, namespaces } = await populate(pods);
    const e2e = await measured(() => reconcileAll(api, namespaces));
    gc();
    const heapAfterGcMb = mb(process.memoryUsage().heapUsed);
    const served = await serveMemoryApi(api);
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: served.url, skipTLSVerify: true }], users: [{ name: 'u', token: 'bench' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const http = new ClientNodeKubeApi(kc);
    const paged = await measured(() => relist(http, 500));
    const oneShot = await measured(() => relist(http, 1_000_000_000));
    await served.close();
    const loop = paged.value;
    let t0 = performance.now();
    let seen = 0;
    for (const ns of namespaces) seen += loop.listNamespace(ns).length;
    const lookupIndexedMs = performance.now() - t0;
    t0 = performance.now();
    let scanned = 0;
    for (const ns of namespaces) scanned += loop.list().filter((p) => p.metadata.namespace === ns).length;
    const lookupScanMs = performance.now() - t0;
    if (seen !== pods || scanned !== pods) throw new Error(`lookup saw ${seen}/${scanned} of ${pods} pods`);
    const r1 = (n: number) => Math.round(n * 10) / 10;
    rows.push({
      pods,
      namespaces: namespaces.length,
      reconcileAllMs: e2e.ms,
      reconcilePeakHeapMb: e2e.peakMb,
      heapAfterGcMb,
      listPages: e2e.value,
      relistPagedMs: paged.ms,
      relistPagedPeakMb: paged.peakMb,
      relistOneShotMs: oneShot.ms,
      relistOneShotPeakMb: oneShot.peakMb,
      lookupIndexedMs: r1(lookupIndexedMs),
      lookupScanMs: r1(lookupScanMs),
    });
  }
  return rows;
}

export function printOperatorTable(rows: OperatorBenchRow[]): void {
  console.log('                          operator (all policies)           pod relist: paged 500 | one answer      pod lookup, all policies');
  console.log('   pods    ns    reconcile ms  peak MB  heap MB  pages      ms  peak MB |     ms  peak MB         index ms    scan ms');
  for (const r of rows) {
    console.log(
      `${String(r.pods).padStart(7)} ${String(r.namespaces).padStart(5)} ${String(r.reconcileAllMs).padStart(15)} ${r.reconcilePeakHeapMb.toFixed(1).padStart(8)} ${r.heapAfterGcMb.toFixed(1).padStart(8)} ${String(r.listPages).padStart(6)} ${String(r.relistPagedMs).padStart(7)} ${r.relistPagedPeakMb.toFixed(1).padStart(8)} | ${String(r.relistOneShotMs).padStart(6)} ${r.relistOneShotPeakMb.toFixed(1).padStart(8)} ${r.lookupIndexedMs.toFixed(1).padStart(16)} ${r.lookupScanMs.toFixed(1).padStart(10)}`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--sizes');
  const sizes = at === -1 ? [1_000, 10_000] : (process.argv[at + 1] ?? '').split(',').map(Number);
  const flag = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i === -1 ? undefined : process.argv[i + 1];
  };
  const rows = sizes.length === 0 || sizes.every((n) => n === 0) ? [] : await runOperatorBench(sizes);
  if (rows.length > 0) printOperatorTable(rows);
  let apiServer: ApiServerBenchRow[] = [];
  if (envtestAssets() !== undefined) {
    const apiSizes = (flag('--apiserver-sizes') ?? '0,10000').split(',').map(Number);
    const baseline = flag('--baseline-bundle');
    // --node-args "A B": a further row set of the current bundle (and of the baseline) under these V8 flags.
    const nodeArgs = flag('--node-args');
    // --node-arg-sets "NAME=A B;NAME=C D": one row set per named V8 flag set, for each bundle (instead of --node-args).
    const sets = (flag('--node-arg-sets') ?? '')
      .split(';')
      .filter((x) => x.trim() !== '')
      .map((x) => {
        const eq = x.indexOf('=');
        return { name: x.slice(0, eq).trim(), args: x.slice(eq + 1).trim().split(/\s+/).filter((a) => a !== '') };
      });
    // --bundle FILE: the current build from elsewhere (a --standalone one, as the image has it).
    const bundles = [...(baseline === undefined ? [] : [{ name: 'baseline', file: baseline }]), { name: 'current', file: flag('--bundle') ?? DEFAULT_BUNDLE }];
    const variants =
      sets.length > 0
        ? sets.flatMap((set) => bundles.map((b) => ({ name: `${b.name}+${set.name}`, file: b.file, nodeArgs: set.args })))
        : [...bundles, ...(nodeArgs === undefined ? [] : bundles.map((b) => ({ name: `${b.name}+flags`, file: b.file, nodeArgs: nodeArgs.split(' ') })))];
    // --floor "FLAGS": rows of a bare client listing the same Deployments under these V8 flags ("" for none).
    const floor = flag('--floor');
    apiServer = await runApiServerBench(apiSizes, variants, Number(flag('--rounds') ?? '1'), floor === undefined ? undefined : floor.split(/\s+/).filter((a) => a !== ''));
    printApiServerTable(apiServer);
  } else {
    console.log('KUBEBUILDER_ASSETS unset: no rows against a real API server');
  }
  process.stdout.write(`${JSON.stringify({ bench: 'operator', rows, apiServer })}\n`);
}
