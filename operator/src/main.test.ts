import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryKubeApi } from './kube/memory-api.ts';
import { eventually } from './testing/event-recorder.ts';
import { asObject, testPolicy } from './testing/fixtures.ts';
import { serveMemoryApi } from './testing/memory-api-server.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('llmaudit-operator run (the bundled binary)', () => {
  it('loads KUBECONFIG, reconciles over real HTTP watches, turns ready, and exits 0 on SIGTERM', async () => {
    const mem = new MemoryKubeApi();
    await mem.create('mutatingwebhookconfigurations', { metadata: { name: 'llmaudit-sidecar-injector' }, webhooks: [{ name: 'pods.llmaudit.dev', clientConfig: {} }] });
    await mem.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const served = await serveMemoryApi(mem);
    cleanups.push(served.close);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'llmaudit-op-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${served.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    const [healthPort, webhookPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [path.join(root, 'operator/dist/llmaudit-operator.mjs'), 'run', `--health-port=${healthPort}`, `--webhook-port=${webhookPort}`, '--log-level=warn'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: kubeconfig, POD_NAMESPACE: 'llmaudit', POD_NAME: 'op-0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const ready = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    };
    await eventually(ready, 60_000).catch(() => {
      throw new Error(`never ready; output:\n${output}`);
    });
    await eventually(() => mem.peek('configmaps', 'apps', 'llmaudit-chat-config') !== undefined, 30_000);
    expect(mem.peek('leases', 'llmaudit', 'llmaudit-operator')?.spec).toMatchObject({ holderIdentity: 'op-0' });
    expect(served.requests.some((r) => r.query.watch === 'true' && r.path.endsWith('/auditpolicies'))).toBe(true);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The lease was released on the way out, so a successor need not wait for it to expire.
    expect((mem.peek('leases', 'llmaudit', 'llmaudit-operator')?.spec as { holderIdentity?: string }).holderIdentity).toBeUndefined();
  }, 120_000); // spawns the bundled binary: slow to start on a loaded machine
});
