// The witness end to end on a real kube-apiserver: `llmaudit-operator run` renders a policy's
// sidecar config (with its witness.url) and signing Secret; two `llmaudit proxy` processes run
// with them, record exchanges made with the official openai client, and push their checkpoints
// to the operator's witness; the policy's status rolls the chains up. Then one sidecar's log is
// truncated on disk and the sidecar restarted: the witness refuses its push, Verified turns
// False, the Events are there, and `llmaudit verify` against the witnessed checkpoint exits 6.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPolicyCrd } from '../../operator/src/api/crd.ts';
import { headsConfigMapName, type Heads } from '../../operator/src/witness/heads.ts';
import { repoRoot } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, startEnvtest, type Envtest } from './harness.ts';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

const OP_NS = 'llmaudit-system';
const NS = 'team-a';
const POLICY = 'audit';

interface Condition {
  type: string;
  status: string;
  reason: string;
}
interface PolicyStatus {
  chains?: number;
  entries?: number;
  lastCheckpointTime?: string;
  witnessedChains?: string[];
  inconsistentChains?: string[];
  witnessKey?: string;
  publicKey?: string;
  conditions?: Condition[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** An OpenAI-shaped upstream: one fixed chat completion. */
async function startUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1765000000, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Sidecar {
  child: ChildProcess;
  proxyPort: number;
  adminPort: number;
  chainDir: string;
  exited: Promise<number | null>;
}

async function startSidecar(configFile: string, pod: string, logDir: string): Promise<Sidecar> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'sidecar/bin/llmaudit.mjs'), 'proxy', '--config', configFile], {
    env: { ...process.env, POD_NAMESPACE: NS, POD_NAME: pod, POD_UID: `uid-${pod}`, LLMAUDIT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const started = await new Promise<{ listeners: { port: number }[]; admin: { port: number }; chainDir: string }>((resolve, reject) => {
    lines.on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; listeners?: { port: number }[]; admin?: { port: number }; chainDir?: string };
        if (rec.msg === 'proxy started') resolve({ listeners: rec.listeners ?? [], admin: rec.admin ?? { port: 0 }, chainDir: rec.chainDir ?? '' });
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`sidecar ${pod} exited (${String(code)}): ${stderr}`)));
  });
  expect(started.chainDir.startsWith(logDir)).toBe(true);
  return { child, proxyPort: started.listeners[0]?.port ?? 0, adminPort: started.admin.port, chainDir: started.chainDir, exited };
}

async function stopSidecar(s: Sidecar): Promise<void> {
  if (s.child.exitCode === null) s.child.kill('SIGTERM');
  await s.exited;
}

async function chat(port: number, n: number): Promise<void> {
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${port}/openai`, maxRetries: 0 });
  for (let i = 0; i < n; i++) {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] });
    expect(r.choices[0]?.message.content).toBe('hello');
  }
}

describe.skipIf(envtestAssets() === undefined)('witness end to end (real API server, operator and sidecar processes)', () => {
  let env: Envtest;
  let operator: ChildProcess | undefined;
  let upstream: { server: Server; url: string };
  let dir: string;
  const sidecars: Sidecar[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-witness-e2e-'));
    env = await startEnvtest();
    await env.createNamespace(OP_NS);
    await env.createNamespace(NS);
    const crd = await env.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', auditPolicyCrd());
    expect(crd.status).toBe(201);
    await eventually(async () => ((await env.api('GET', `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies`)).status === 200 ? true : undefined), 'the CRD is served');
    upstream = await startUpstream();
  }, 90_000);

  afterAll(async () => {
    for (const s of sidecars) await stopSidecar(s);
    if (operator !== undefined && operator.exitCode === null) {
      const op = operator;
      const done = new Promise((resolve) => op.once('exit', resolve));
      op.kill('SIGTERM');
      await done;
    }
    await new Promise<void>((resolve) => upstream?.server.close(() => resolve()));
    await env?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const policyStatus = async (): Promise<PolicyStatus> => ((await env.api<{ status?: PolicyStatus }>('GET', `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies/${POLICY}`)).body.status ?? {});
  const heads = async (): Promise<Heads> => {
    const r = await env.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${NS}/configmaps/${headsConfigMapName(POLICY)}`);
    return r.status === 200 ? (JSON.parse(r.body.data?.['heads.json'] ?? '{}') as Heads) : {};
  };

  it('witnesses two sidecars, then refuses the truncated one: Verified=False, Events, verify exits 6', async () => {
    const created = await env.api('POST', `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies`, {
      apiVersion: 'llmaudit.dev/v1alpha1',
      kind: 'AuditPolicy',
      metadata: { name: POLICY },
      spec: { endpoints: [{ name: 'openai', upstream: `${upstream.url}/v1`, api: 'openai' }], log: { checkpointIntervalSeconds: 1 } },
    });
    expect(created.status).toBe(201);

    const witnessPort = await freePort();
    operator = spawn(
      process.execPath,
      [path.join(repoRoot, 'operator/bin/llmaudit-operator.mjs'), 'run', '--namespace', OP_NS, '--health-port', '0', '--webhook-port', '0', '--witness-port', String(witnessPort), '--witness-url', `http://127.0.0.1:${witnessPort}`, '--leader-elect', 'false', '--resync-seconds', '5', '--log-level', 'warn'],
      { env: { ...process.env, KUBECONFIG: env.kubeconfig, POD_NAME: 'operator-0' }, stdio: ['ignore', 'ignore', 'inherit'] },
    );

    // What the operator rendered: the sidecar config (with the witness URL) and the signing key.
    const rendered = await eventually(async () => {
      const r = await env.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${NS}/configmaps/llmaudit-${POLICY}-config`);
      return r.status === 200 ? r.body.data?.['config.yaml'] : undefined;
    }, 'the rendered sidecar config', 30_000);
    const config = parse(rendered) as { witness: { url?: string }; log: Record<string, unknown>; listeners: unknown; admin: unknown };
    expect(config.witness.url).toBe(`http://127.0.0.1:${witnessPort}/${NS}/${POLICY}`);
    const secret = await eventually(async () => {
      const r = await env.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${NS}/secrets/llmaudit-${POLICY}-signing`);
      return r.status === 200 ? r.body.data : undefined;
    }, 'the signing Secret');
    const keyFile = path.join(dir, 'signing.key');
    await writeFile(keyFile, Buffer.from(secret['signing.key'] ?? '', 'base64'));
    const vkeyFile = path.join(dir, 'verifier.key');
    await writeFile(vkeyFile, Buffer.from(secret['verifier.key'] ?? '', 'base64'));

    // The same config on this machine: the log in a temp dir, the key from the Secret, ports 0.
    const configFor = async (pod: string): Promise<{ file: string; logDir: string }> => {
      const logDir = path.join(dir, `log-${pod}`);
      const file = path.join(dir, `config-${pod}.yaml`);
      await writeFile(file, stringify({ ...config, log: { ...config.log, dir: logDir, keyFile }, listeners: [{ address: '127.0.0.1', port: 0 }], admin: { address: '127.0.0.1', port: 0 } }));
      return { file, logDir };
    };
    const c1 = await configFor('agent-1');
    const c2 = await configFor('agent-2');
    const s1 = await startSidecar(c1.file, 'agent-1', c1.logDir);
    sidecars.push(s1);
    const s2 = await startSidecar(c2.file, 'agent-2', c2.logDir);
    sidecars.push(s2);
    await chat(s1.proxyPort, 4);
    await chat(s2.proxyPort, 3);

    const o1 = `llmaudit.dev/${NS}/agent-1/uid-agent-1`;
    const o2 = `llmaudit.dev/${NS}/agent-2/uid-agent-2`;
    await eventually(async () => {
      const h = await heads();
      return (h[o1]?.size ?? 0) >= 4 && (h[o2]?.size ?? 0) >= 3 ? true : undefined;
    }, 'both chains witnessed', 30_000);
    const witnessed = (await heads())[o1];
    expect(witnessed?.checkpoint).toBeDefined();

    const healthy = await eventually(async () => {
      const s = await policyStatus();
      return s.chains === 2 && (s.entries ?? 0) >= 7 && s.conditions?.some((c) => c.type === 'Verified' && c.status === 'True') ? s : undefined;
    }, 'status rolls up both chains', 30_000);
    expect(healthy.witnessedChains).toEqual(['agent-1', 'agent-2']);
    expect(healthy.lastCheckpointTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    const witnessKey = healthy.witnessKey ?? '';
    expect(witnessKey).toMatch(/^witness\.llmaudit\.dev\/llmaudit-system\+[0-9a-f]{8}\+B/);
    const published = await env.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${OP_NS}/configmaps/llmaudit-witness`);
    expect(published.body.data?.['verifier.key']?.trim()).toBe(witnessKey);
    // The sidecar serves its newest checkpoint with the witness's cosignature beside its own signature.
    const served = await eventually(async () => {
      const note = await (await fetch(`http://127.0.0.1:${s2.adminPort}/v1/checkpoint`)).text();
      return note.includes('\n— witness.llmaudit.dev/llmaudit-system ') ? note : undefined;
    }, 'a cosigned /v1/checkpoint');
    expect(served).toMatch(new RegExp(`^llmaudit\\.dev/${NS}/agent-2/uid-agent-2\\n\\d+\\n[A-Za-z0-9+/=]+\\n\\n— llmaudit\\.dev/${NS}/${POLICY} `));

    // Truncate agent-1's log on disk to its first entry, as an intruder would: cut the segment,
    // drop the later segments and every checkpoint that covers the lost entries.
    await stopSidecar(s1);
    sidecars.splice(sidecars.indexOf(s1), 1);
    const segments = (await readdir(s1.chainDir)).filter((f) => /^seg-\d+\.jsonl$/.test(f)).sort();
    const firstSegment = path.join(s1.chainDir, segments[0] as string);
    const firstLine = (await readFile(firstSegment, 'utf8')).split('\n')[0] as string;
    await truncate(firstSegment, Buffer.byteLength(firstLine) + 1);
    for (const s of segments.slice(1)) await unlink(path.join(s1.chainDir, s));
    for (const c of await readdir(path.join(s1.chainDir, 'checkpoints'))) if (Number(c) > 1) await unlink(path.join(s1.chainDir, 'checkpoints', c));
    await rm(path.join(s1.chainDir, 'checkpoint'), { force: true });

    const restarted = await startSidecar(c1.file, 'agent-1', c1.logDir);
    sidecars.push(restarted);
    await chat(restarted.proxyPort, 1);

    const refused = await eventually(async () => {
      const s = await policyStatus();
      return s.conditions?.some((c) => c.type === 'Verified' && c.status === 'False' && c.reason === 'Inconsistent') ? s : undefined;
    }, 'Verified turns False', 30_000);
    expect(refused.inconsistentChains).toEqual(['agent-1']);
    expect((await heads())[o1]?.refused).toMatchObject({ kind: 'rollback' });
    const events = await eventually(async () => {
      const r = await env.api<{ items: { reason: string; type: string; involvedObject: { kind: string; name: string } }[] }>('GET', `/api/v1/namespaces/${NS}/events`);
      const mine = r.body.items.filter((e) => e.reason === 'CheckpointRefused');
      return mine.length >= 2 ? mine : undefined;
    }, 'CheckpointRefused Events');
    expect(events.map((e) => `${e.type} ${e.involvedObject.kind}/${e.involvedObject.name}`).sort()).toEqual(['Warning AuditPolicy/audit', 'Warning Pod/agent-1']);

    // The auditor checks the log against the checkpoint the witness cosigned: it is gone.
    await stopSidecar(restarted);
    sidecars.splice(sidecars.indexOf(restarted), 1);
    const sinceFile = path.join(dir, 'witnessed-checkpoint');
    await writeFile(sinceFile, witnessed?.checkpoint ?? '');
    const wkeyFile = path.join(dir, 'witness.vkey');
    await writeFile(wkeyFile, `${witnessKey}\n`);
    const verify = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(process.execPath, [path.join(repoRoot, 'sidecar/bin/llmaudit.mjs'), 'verify', ...args], (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), out: `${stdout}${stderr}` });
        });
      });
    const truncatedLog = await verify(s1.chainDir, '--key', vkeyFile, '--since', sinceFile, '--witness-key', wkeyFile);
    expect(truncatedLog.code, truncatedLog.out).toBe(6);
    // The intact log carries the witness's cosignatures; verify says when it was last witnessed.
    await stopSidecar(s2);
    sidecars.splice(sidecars.indexOf(s2), 1);
    const intact = await verify(s2.chainDir, '--key', vkeyFile, '--witness-key', wkeyFile);
    expect(intact.code, intact.out).toBe(0);
    expect(intact.out).toMatch(/newest witnessed checkpoint: size \d+, cosigned by witness\.llmaudit\.dev\/llmaudit-system at \d{4}-/);
  }, 180_000);
});
