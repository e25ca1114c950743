/**
 * The witness under load, against a real kube-apiserver + etcd (test/envtest/harness.ts; needs
 * KUBEBUILDER_ASSETS): every push is a C2SP tlog-witness add-checkpoint over HTTP with a real RFC
 * 9162 consistency proof, decided and stored by a compare-and-swap of the policy's heads ConfigMap
 * through the operator's own Kubernetes client.
 *
 *   paced       N sidecars (default 1,000) of one policy, each pushing once every 30 s, spread
 *               evenly (≈ N/30 pushes per second): API writes per second, bytes written, conflicts,
 *               and the time from a sidecar's push of a new checkpoint to its cosignature, p50/p99
 *   saturation  every sidecar pushes its next checkpoint as soon as the last one is answered:
 *               pushes per second, and per CPU second of this process (which also runs the load
 *               generator's HTTP client, so the per-core figure is a lower bound for the witness)
 *
 * Rows: one replica with group commit (what ships); two replicas on the same heads (the chart's
 * default: conflicts); and the baseline of one write per push (maxBatch 1).
 *
 *   KUBEBUILDER_ASSETS=/path/to/envtest npm run bench -- witness [--sidecars 1000] [--seconds 20]
 */
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { generateSignerKey } from '@llmaudit/sidecar/auditlog';
import { auditPolicyCrd } from '../operator/src/api/crd.ts';
import type { AuditPolicy } from '../operator/src/api/audit-policy.ts';
import { ClientNodeKubeApi } from '../operator/src/kube/client-node-api.ts';
import { HeadStore } from '../operator/src/witness/head-store.ts';
import { testLog, type TestLog } from '../operator/src/witness/test-log.ts';
import { ensureWitnessKey } from '../operator/src/witness/witness-key.ts';
import { createWitnessMetrics } from '../operator/src/witness/witness-metrics.ts';
import { startWitnessServer, type WitnessServer } from '../operator/src/witness/witness-server.ts';
import { Registry } from 'prom-client';
import { envtestAssets, eventually, startEnvtest, type Envtest } from '../test/envtest/harness.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SIDECARS = arg('sidecars', 1000);
const SECONDS = arg('seconds', 20);
const PERIOD_S = 30;
const GROW = 5;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

interface Row {
  name: string;
  replicas: number;
  maxBatch: number | null;
  pushes: number;
  pushesPerSecond: number;
  writesPerSecond: number;
  kbWrittenPerSecond: number;
  conflicts: number;
  non200: number;
  /** Answers other than 200 by status (409: the sidecar retries from the size given). */
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  cpuSecondsPerPush: number;
  pushesPerCpuSecond: number;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};

interface Sim {
  log: TestLog;
  known: number;
}

async function setup(env: Envtest, ns: string): Promise<{ api: ClientNodeKubeApi; policy: AuditPolicy; keys: { signerKey: string; verifierKey: string } }> {
  await env.createNamespace(ns);
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const api = new ClientNodeKubeApi(kc);
  const keys = generateSignerKey(`llmaudit.dev/${ns}/audit`);
  const policy = (await api.create('auditpolicies', { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'audit', namespace: ns }, spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] } })) as unknown as AuditPolicy;
  await api.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llmaudit-audit-signing', namespace: ns }, data: { 'signing.key': Buffer.from(keys.signerKey).toString('base64') } });
  return { api, policy, keys };
}

async function runRow(env: Envtest, name: string, replicas: number, maxBatch: number | undefined, mode: 'paced' | 'saturation', ns: string): Promise<Row> {
  const { api, policy, keys } = await setup(env, ns);
  const cosigner = await ensureWitnessKey(api, ns);
  const stores = Array.from({ length: replicas }, () => new HeadStore({ api, cosigner, ...(maxBatch === undefined ? {} : { maxBatch }) }));
  const servers: WitnessServer[] = [];
  for (const store of stores) {
    servers.push(await startWitnessServer({ api, store, lookupPolicy: () => policy, emitEvent: async () => undefined, metrics: createWitnessMetrics(new Registry()), log: silent, port: 0, host: '127.0.0.1' }));
  }
  const dispatcher = new Agent({ connections: 64, pipelining: 1 });
  const sims: Sim[] = Array.from({ length: SIDECARS }, (_, i) => ({ log: testLog(`llmaudit.dev/${ns}/agent-${i}/uid-${i}`, keys), known: 0 }));
  let rr = 0;
  let non200 = 0;
  let statuses: Record<string, number> = {};
  const push = async (sim: Sim): Promise<number> => {
    sim.log.grow(GROW);
    const size = sim.log.leaves.length;
    const body = await sim.log.body(sim.known, size);
    const server = servers[rr++ % servers.length] as WitnessServer;
    const t0 = performance.now();
    const res = await request(`http://127.0.0.1:${server.port}/${ns}/audit/add-checkpoint`, { method: 'POST', body, dispatcher });
    const text = await res.body.text();
    const ms = performance.now() - t0;
    if (res.statusCode === 200) sim.known = size;
    else {
      non200++;
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      if (res.statusCode === 409) sim.known = Number(text.trim());
    }
    return ms;
  };
  // Every sidecar's first checkpoint (no proof yet), not measured.
  for (let i = 0; i < sims.length; i += 50) await Promise.all(sims.slice(i, i + 50).map((s) => push(s)));
  non200 = 0;
  statuses = {};
  for (const s of stores) Object.assign(s.counters, { writes: 0, conflicts: 0, bytes: 0 });

  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'paced') {
    // Sidecar i pushes at i × (30 s / N) past the start, for SECONDS seconds.
    const gapMs = (PERIOD_S * 1000) / SIDECARS;
    const count = Math.min(SIDECARS, Math.floor((SECONDS * 1000) / gapMs));
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const due = t0 + i * gapMs;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inflight.push(push(sims[i] as Sim).then((ms) => void latencies.push(ms)));
    }
    await Promise.all(inflight);
  } else {
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      sims.slice(0, 200).map(async (s) => {
        while (performance.now() < deadline) latencies.push(await push(s));
      }),
    );
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const writes = stores.reduce((n, s) => n + s.counters.writes, 0);
  const bytes = stores.reduce((n, s) => n + s.counters.bytes, 0);
  const conflicts = stores.reduce((n, s) => n + s.counters.conflicts, 0);
  for (const s of servers) await s.close();
  await dispatcher.close();
  return {
    name,
    replicas,
    maxBatch: maxBatch ?? null,
    pushes: latencies.length,
    pushesPerSecond: latencies.length / wallS,
    writesPerSecond: writes / wallS,
    kbWrittenPerSecond: bytes / 1024 / wallS,
    conflicts,
    non200,
    statuses,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    cpuSecondsPerPush: cpuS / Math.max(1, latencies.length),
    pushesPerCpuSecond: latencies.length / cpuS,
  };
}

async function main(): Promise<void> {
  if (envtestAssets() === undefined) {
    process.stderr.write('bench witness: set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (the benchmark measures the real API server)\n');
    process.exitCode = 1;
    return;
  }
  const env = await startEnvtest();
  try {
    const crd = await env.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', auditPolicyCrd());
    if (crd.status !== 201) throw new Error(`CRD not created: ${crd.status}`);
    await eventually(async () => ((await env.api('GET', '/apis/llmaudit.dev/v1alpha1/auditpolicies')).status === 200 ? true : undefined), 'the CRD is served');
    const rows: Row[] = [];
    const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '') : '';
    const run = async (...a: Parameters<typeof runRow>): Promise<void> => {
      if (a[1].includes(only)) rows.push(await runRow(...a));
    };
    await run(env, 'paced, 1 replica, group commit', 1, undefined, 'paced', 'bench-a');
    await run(env, 'paced, 2 replicas, group commit', 2, undefined, 'paced', 'bench-b');
    await run(env, 'paced, 1 replica, write per push (baseline)', 1, 1, 'paced', 'bench-c');
    await run(env, 'saturation, 1 replica, group commit', 1, undefined, 'saturation', 'bench-d');
    await run(env, 'saturation, 1 replica, write per push (baseline)', 1, 1, 'saturation', 'bench-e');
    const f = (x: number, d = 1): string => x.toFixed(d);
    process.stdout.write(`witness: ${SIDECARS} sidecars of one policy, a push every ${PERIOD_S} s each (paced: ${f(SIDECARS / PERIOD_S)}/s offered), ${SECONDS} s per row\n`);
    process.stdout.write(`${'row'.padEnd(50)} ${'pushes/s'.padStart(9)} ${'writes/s'.padStart(9)} ${'KiB/s'.padStart(8)} ${'conflicts'.padStart(9)} ${'non-200'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'push/cpu-s'.padStart(10)}\n`);
    for (const r of rows) {
      process.stdout.write(`${r.name.padEnd(50)} ${f(r.pushesPerSecond).padStart(9)} ${f(r.writesPerSecond).padStart(9)} ${f(r.kbWrittenPerSecond, 0).padStart(8)} ${String(r.conflicts).padStart(9)} ${String(r.non200).padStart(8)} ${f(r.p50Ms).padStart(8)} ${f(r.p99Ms).padStart(8)} ${f(r.pushesPerCpuSecond, 0).padStart(10)}${r.non200 === 0 ? '' : `  ${JSON.stringify(r.statuses)}`}\n`);
    }
    const json = JSON.stringify({ bench: 'witness', sidecars: SIDECARS, seconds: SECONDS, rows });
    process.stdout.write(`${json}\n`);
    const out = args[args.indexOf('--out') + 1];
    if (args.includes('--out') && out !== undefined) await writeFile(out, json);
  } finally {
    await env.stop();
  }
}

await main();
