/**
 * The operator binary (operator/bin → the bundle hack/build.mjs writes) against a real
 * kube-apiserver + etcd (test/envtest/harness.ts, KUBEBUILDER_ASSETS): N Deployments in the
 * cluster, the operator started as a child process with an admin kubeconfig, leading, webhook and
 * witness on. Per size:
 *   - ready s: from spawn until the leader has listed every Deployment, StatefulSet and labelled
 *     pod and written an AuditPolicy's status (cleared before each start) — what a restart costs
 *     before the leader reconciles;
 *   - rss MiB: the child's resident set (VmRSS), the highest of 10 samples over 3 s once synced and
 *     idle;
 *   - peak MiB: the child's VmHWM when ready, the highest resident set since its start, the first
 *     list included — what the container's memory limit has to hold;
 *   - KB/workload: (rss at N − rss at 0) / N.
 * Deployments are kubectl-apply shaped (a last-applied-configuration annotation, a pod template
 * with resources, env, probes: ~3 KB of JSON each, plus the managedFields the server adds), made
 * with 48 parallel POSTs over 100 namespaces.
 *
 * `--baseline-bundle FILE` runs a second bundle (e.g. one built from an older commit with
 * `node hack/build.mjs --out-root DIR`) through the same sizes, side by side. Every bundle and V8
 * flag set runs against the same API server and Deployments; with `--rounds N` each size measures
 * every one of them N times, alternating, so a busy machine's drift falls on all rows alike. The
 * child runs with `MALLOC_ARENA_MAX=2`, as the image sets it (override it in the bench's environment).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { auditPolicyCrd } from '../operator/src/api/crd.ts';
import { eventually, startEnvtest, type Envtest } from '../test/envtest/harness.ts';

export interface ApiServerBenchRow {
  bundle: string;
  round: number;
  deployments: number;
  readyS: number;
  rssMiB: number;
  /** VmHWM once ready: the highest resident set since the start, the first list included. */
  peakMiB: number;
  kbPerWorkload: number | undefined;
}

const OPERATOR_NS = 'llmaudit-system';
const APP_NAMESPACES = 100;
const POLICY_PATH = '/apis/llmaudit.dev/v1alpha1/namespaces/team-0/auditpolicies/default';

function deploymentObject(i: number): Record<string, unknown> {
  const name = `svc-${i}`;
  const namespace = `team-${i % APP_NAMESPACES}`;
  const labels = { app: name, 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'shop', tier: 'backend' };
  const spec = {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } },
      spec: {
        containers: [
          {
            name: 'app',
            image: `registry.example.com/shop/${name}:1.${i % 50}.0`,
            ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }],
            env: Array.from({ length: 8 }, (_, k) => ({ name: `SETTING_${k}`, value: `value-${k}-${name}` })),
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
            livenessProbe: { httpGet: { path: '/livez', port: 'http' }, periodSeconds: 10 },
          },
        ],
      },
    },
  };
  const applied = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, labels }, spec };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) } },
    spec,
  };
}

export async function createDeployments(env: Envtest, from: number, to: number): Promise<void> {
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const body = deploymentObject(i);
      const ns = (body.metadata as { namespace: string }).namespace;
      const r = await env.api('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, body);
      if (r.status !== 201 && r.status !== 409) throw new Error(`POST deployment ${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: 48 }, worker));
}

async function vmRssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 'NaN');
  return kb / 1024;
}

/** Starts the bundle, waits for "controllers synced", samples RSS while idle, stops it. */
async function measureOnce(env: Envtest, bundle: string, nodeArgs: string[]): Promise<{ readyS: number; rssMiB: number; peakMiB: number }> {
  const cleared = await env.api('PATCH', `${POLICY_PATH}/status`, { status: null }, { contentType: 'application/merge-patch+json' });
  if (cleared.status !== 200) throw new Error(`clearing the policy status: ${cleared.status}`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, bundle, 'run', `--namespace=${OPERATOR_NS}`, '--health-port=0', '--webhook-port=0', '--witness-port=0', '--log-level=info'], {
    env: { ...process.env, KUBECONFIG: env.kubeconfig, POD_NAMESPACE: OPERATOR_NS, POD_NAME: 'bench-operator', NODE_OPTIONS: '', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    let exitedEarly: Error | undefined;
    child.once('exit', (code) => (exitedEarly = new Error(`operator exited (${String(code)}) before syncing: ${stderr.slice(-2000)}`)));
    if (process.env.BENCH_DEBUG !== undefined) child.stdout.on('data', (c: Buffer) => process.stderr.write(c));
    else child.stdout.resume();
    // Ready: the leader has listed every workload and labelled pod and reconciled the policy (its
    // status, cleared before the start, is written again).
    await eventually(async () => {
      if (exitedEarly !== undefined) throw exitedEarly;
      const p = await env.api<{ status?: { observedGeneration?: number } }>('GET', POLICY_PATH);
      return p.body.status?.observedGeneration !== undefined ? true : undefined;
    }, 'the policy status', 600_000);
    const readyS = Math.round((performance.now() - t0) / 100) / 10;
    const peakMiB = Math.round((await vmRssMiB(child.pid as number, 'VmHWM')) * 10) / 10;
    let rssMiB = 0;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      rssMiB = Math.max(rssMiB, await vmRssMiB(child.pid as number));
    }
    return { readyS, rssMiB: Math.round(rssMiB * 10) / 10, peakMiB };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** bench/operator-list-floor.ts as a child under `nodeArgs`: seconds to list every Deployment with a bare client. */
async function measureFloor(env: Envtest, mode: 'list' | 'watch-list', nodeArgs: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, path.join(import.meta.dirname, 'operator-list-floor.ts'), mode], {
    env: { ...process.env, FLOOR_URL: env.url, FLOOR_TOKEN: env.adminToken, FLOOR_CA: env.caPem, NODE_OPTIONS: '', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`list floor (${mode}) exited ${String(code)}`);
  return (JSON.parse(out) as { s: number }).s;
}

/**
 * `floorNodeArgs`: after each round at a size above 0, rows `floor:list` and `floor:watch-list`,
 * a bare client's time to list the same Deployments metadata-only under these V8 flags
 * (bench/operator-list-floor.ts; no RSS).
 */
export async function runApiServerBench(sizes: number[], bundles: { name: string; file: string; nodeArgs?: string[] }[], rounds = 1, floorNodeArgs?: string[]): Promise<ApiServerBenchRow[]> {
  const env = await startEnvtest();
  const rows: ApiServerBenchRow[] = [];
  try {
    const crd = auditPolicyCrd();
    const r = await env.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (r.status !== 201) throw new Error(`CRD: ${r.status}`);
    await eventually(async () => {
      const c = await env.api<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/auditpolicies.llmaudit.dev');
      return c.body.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') === true ? true : undefined;
    }, 'the CRD');
    await env.createNamespace(OPERATOR_NS);
    for (let n = 0; n < APP_NAMESPACES; n++) await env.createNamespace(`team-${n}`);
    const policy = { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'default', namespace: 'team-0' }, spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] } };
    const pr = await env.api('POST', '/apis/llmaudit.dev/v1alpha1/namespaces/team-0/auditpolicies', policy);
    if (pr.status !== 201) throw new Error(`AuditPolicy: ${pr.status}`);
    let made = 0;
    const rssAtZero = new Map<string, number[]>();
    for (const size of [...sizes].sort((a, b) => a - b)) {
      const t0 = performance.now();
      await createDeployments(env, made, size);
      if (size > made) process.stderr.write(`created ${size - made} Deployments in ${Math.round(performance.now() - t0) / 1000} s\n`);
      made = Math.max(made, size);
      for (let round = 1; round <= rounds; round++) {
        for (const b of bundles) {
          const m = await measureOnce(env, b.file, b.nodeArgs ?? []);
          if (size === 0) rssAtZero.set(b.name, [...(rssAtZero.get(b.name) ?? []), m.rssMiB]);
          // Against the mean idle RSS of the same bundle and flags.
          const zeros = rssAtZero.get(b.name) ?? [];
          const zero = zeros.length === 0 ? undefined : zeros.reduce((a, x) => a + x, 0) / zeros.length;
          const kbPerWorkload = size === 0 || zero === undefined ? undefined : Math.round(((m.rssMiB - zero) * 1024 * 100) / size) / 100;
          rows.push({ bundle: b.name, round, deployments: size, readyS: m.readyS, rssMiB: m.rssMiB, peakMiB: m.peakMiB, kbPerWorkload });
        }
        if (floorNodeArgs !== undefined && size > 0) {
          for (const mode of ['list', 'watch-list'] as const) {
            rows.push({ bundle: `floor:${mode}`, round, deployments: size, readyS: await measureFloor(env, mode, floorNodeArgs), rssMiB: Number.NaN, peakMiB: Number.NaN, kbPerWorkload: undefined });
          }
        }
      }
    }
  } finally {
    await env.stop();
  }
  return rows;
}

export function printApiServerTable(rows: ApiServerBenchRow[]): void {
  console.log('\noperator binary on a real API server (targets: idle rss <= 80 MiB, <= 2 KB per workload, ready <= 30 s at 50k)');
  const width = Math.max(15, ...rows.map((r) => r.bundle.length));
  console.log(`${'bundle'.padEnd(width)} round deployments   ready s   rss MiB  peak MiB   KB/workload`);
  for (const r of rows) {
    console.log(`${r.bundle.padEnd(width)} ${String(r.round).padStart(5)} ${String(r.deployments).padStart(11)} ${r.readyS.toFixed(1).padStart(9)} ${(Number.isNaN(r.rssMiB) ? '-' : r.rssMiB.toFixed(1)).padStart(9)} ${(Number.isNaN(r.peakMiB) ? '-' : r.peakMiB.toFixed(1)).padStart(9)} ${(r.kbPerWorkload === undefined ? '-' : r.kbPerWorkload.toFixed(2)).padStart(13)}`);
  }
}

export const DEFAULT_BUNDLE = path.join(import.meta.dirname, '..', 'operator', 'dist', 'llmaudit-operator.mjs');
