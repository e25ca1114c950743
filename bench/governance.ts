/**
 * What governance costs one request on the event loop (targets: every detector on a 1 KiB chat
 * request ≤ 30 µs p50, on 100 KiB ≤ 1 ms p50).
 *
 * Runs, side by side in one process:
 *   - detectors: every built-in detector over the text fields of a chat request (inspectRequest:
 *     text-field walk, detection, overlap resolution, keyed tokens), on 1 KiB and 100 KiB of
 *     prose, without and with personal data planted in it;
 *   - admit: the whole decision through the engine (models, detectors, caps, risk, a local rate
 *     limit and a budget) with that full policy, against the same request under an empty policy
 *     (the baseline every exchange pays).
 *
 *   npm run bench -- governance [--iterations 5000]     (or: npx tsx bench/governance.ts)
 */
import { pathToFileURL } from 'node:url';
import { allFakers } from '@faker-js/faker';
import { parseSidecarConfig, type SidecarConfig } from '../sidecar/src/config/index.ts';
import { inspectRequest, type RequestFacts } from '../sidecar/src/governance/decide.ts';
import { createGovernance, policyOf } from '../sidecar/src/governance/engine.ts';
import { BUILTIN_DETECTORS } from '../sidecar/src/governance/schema.ts';

export interface GovernanceBenchRow {
  name: string;
  bytes: number;
  iterations: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
}

const KEY = Buffer.alloc(32, 3);

function prose(bytes: number, pii: boolean): string {
  const f = allFakers.en_US;
  f.seed(7);
  let s = '';
  while (s.length < bytes) s += `${f.lorem.sentence()} ${f.company.catchPhrase()}. Version ${f.system.semver()} shipped on ${f.date.recent().toISOString()}. `;
  s = s.slice(0, bytes);
  if (!pii) return s;
  const planted = ' Reach alice.smith@example.com or +44 20 7946 0958, card 4111 1111 1111 1111. ';
  return s.slice(0, bytes / 2) + planted + s.slice(bytes / 2 + planted.length);
}

function chat(bytes: number, pii: boolean): unknown {
  const text = prose(bytes - 200, pii);
  return { model: 'gpt-4o-mini', max_tokens: 256, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: text }] };
}

function full(): SidecarConfig {
  const detectors = Object.fromEntries(BUILTIN_DETECTORS.map((n) => [n, { action: 'redact-in-log', responses: 'flag' }]));
  return parseSidecarConfig({
    policy: 'bench',
    listeners: [{ port: 0 }],
    endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }],
    governance: {
      models: { allow: ['gpt-4o*', 'o3*'], deny: ['gpt-4o-realtime*'] },
      detectors,
      caps: { maxBodyBytes: 1 << 20, maxOutputTokens: 4096, maxTools: 16, maxMessages: 64 },
      rateLimits: { rules: [{ by: 'apiKey', requestsPerMinute: 1e9, tokensPerMinute: 1e12 }] },
      budgets: [{ period: 'day', usd: 1e9 }],
      risk: { blockAt: 1000, flagAt: 100 },
    },
  });
}

function empty(): SidecarConfig {
  return parseSidecarConfig({ policy: 'bench', listeners: [{ port: 0 }], endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] });
}

function stats(name: string, bytes: number, samples: number[]): GovernanceBenchRow {
  samples.sort((a, b) => a - b);
  const at = (q: number) => Number(((samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number) * 1000).toFixed(2));
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { name, bytes, iterations: samples.length, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), meanUs: Number((mean * 1000).toFixed(2)) };
}

function facts(body: unknown, bytes: number): RequestFacts {
  return { api: 'openai.chat', endpoint: 'openai', external: true, body, bodyBytes: bytes, headers: { authorization: 'Bearer sk-bench' }, now: Date.now() };
}

export async function runGovernanceBench(iterations: number): Promise<GovernanceBenchRow[]> {
  const rows: GovernanceBenchRow[] = [];
  const fullCfg = full();
  const emptyCfg = empty();
  const policy = policyOf(fullCfg);
  for (const bytes of [1024, 100 * 1024]) {
    const n = bytes > 10_000 ? Math.max(200, Math.floor(iterations / 10)) : iterations;
    for (const pii of [false, true]) {
      const body = chat(bytes, pii);
      const f = facts(body, bytes);
      for (let i = 0; i < Math.min(n, 500); i++) inspectRequest(f, policy, KEY); // warm-up (JIT)
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        inspectRequest(f, policy, KEY);
        samples.push(performance.now() - t0);
      }
      rows.push(stats(`detectors${pii ? ' (with PII)' : ''}`, bytes, samples));
    }
  }
  const gov = createGovernance({ key: KEY });
  const body = chat(1024, false);
  for (const [name, cfg] of [
    ['admit: empty policy (baseline)', emptyCfg],
    ['admit: full policy', fullCfg],
  ] as const) {
    const f = facts(body, 1024);
    for (let i = 0; i < 500; i++) await gov.admit(cfg, f);
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await gov.admit(cfg, f);
      samples.push(performance.now() - t0);
    }
    rows.push(stats(name, 1024, samples));
  }
  await gov.close();
  return rows;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--iterations');
  const iterations = i > 0 ? Number(process.argv[i + 1]) : 5000;
  const rows = await runGovernanceBench(iterations);
  console.table(rows.map((r) => ({ name: r.name, bytes: r.bytes, iterations: r.iterations, 'p50 µs': r.p50Us, 'p90 µs': r.p90Us, 'p99 µs': r.p99Us, 'mean µs': r.meanUs })));
  const base = rows.find((r) => r.name.includes('baseline'));
  const fullRow = rows.find((r) => r.name === 'admit: full policy');
  if (base !== undefined && fullRow !== undefined) console.log(`full policy adds ${(fullRow.p50Us - base.p50Us).toFixed(2)} µs p50 over the empty policy on a 1 KiB request`);
  console.log(JSON.stringify({ bench: 'governance', rows }));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
