// The sidecar exactly as an injected pod runs it — Dockerfile.sidecar's standalone bundle at /app,
// the container the operator injects (UID 10001, read-only root, no capabilities, its volumes at
// their mount paths, its env), the config the operator renders — in bubblewrap instead of a
// container engine. Real traffic through the official openai client, SIGTERM, exit 0, and the log
// verifies. Any write outside the container's writable volumes (/tmp, the log volume) fails: the
// negative controls show the sandbox refuses it and that the proxy would report it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { AuditPolicy } from '../../operator/src/api/audit-policy.ts';
import { CONFIG_FILE_KEY, LOG_MOUNT_DIR, SIDECAR_CONTAINER_NAME, SIGNING_FILE, VOLUME_NAMES } from '../../operator/src/api/names.ts';
import { signingKeys } from '../../operator/src/controllers/signing-keys.ts';
import { injectSidecar } from '../../operator/src/inject/inject-sidecar.ts';
import type { Container, PodLike } from '../../operator/src/inject/pod-types.ts';
import { renderConfigMapData } from '../../operator/src/render/render-config.ts';
import { testPolicy } from '../../operator/src/testing/fixtures.ts';
import { loadWireFixture, startReplayUpstream, type ReplayUpstream } from '../support/replay-upstream.ts';
import { bwrapRequirement, expectedHostUid, planContainer, processStatus, readImageConfig, startSandbox, writeKubeletVolume, type PodFacts, type SandboxPlan, type Sandboxed } from './pod-sandbox.ts';
import { buildStandaloneBundles, repoRoot, type Bundles } from './standalone-bundles.ts';

const requirement = bwrapRequirement();
if (!requirement.run) console.warn(`test/hardened: ${requirement.reason}`);

const POD: PodFacts = { name: 'chat-5d8f7c9b6-x2x9k', namespace: 'shop', uid: '6a1f2c3d-0b1e-4c2a-9f00-5e6d7c8b9a01', nodeName: 'node-a' };
const HOST_NODE = { '/nodejs/bin/node': process.execPath };
const FIXTURE = loadWireFixture('openai-chat-stream-final');
const API_KEY = 'sk-hardened-runtime-secret-0123456789';
/** Any sign of a write the sandbox refused. */
const WRITE_REFUSED = /EROFS|EACCES|EPERM|read-only file system|permission denied/i;

interface Prepared {
  plan: SandboxPlan;
  app: Container;
  logDir: string;
  verifierKeyFile: string;
}

describe.runIf(requirement.run)('sidecar image + injected container: UID 10001, read-only root filesystem, no capabilities', () => {
  let work: string;
  let bundles: Bundles;
  let upstream: ReplayUpstream;
  let running: Sandboxed | null = null;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'llmaudit-hardened-sidecar-'));
    // bwrap runs as the container's UID: it must be able to reach the volumes' host folders.
    await chmod(work, 0o755);
    bundles = await buildStandaloneBundles(path.join(work, 'build'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  afterEach(async () => {
    if (running !== null && running.bwrap.exitCode === null) running.bwrap.kill('SIGKILL');
    running = null;
    await upstream?.close();
  });

  /** Injects a pod with the policy, writes its volumes' host folders, and plans the sidecar container. */
  async function prepare(name: string, policy: AuditPolicy, configEdit: (config: Record<string, unknown>) => void = () => undefined): Promise<Prepared> {
    const base = path.join(work, name);
    await mkdir(base, { mode: 0o755 });
    const pod: PodLike = { apiVersion: 'v1', kind: 'Pod', metadata: { name: POD.name, namespace: POD.namespace, labels: { app: 'chat' } }, spec: { containers: [{ name: 'chat', image: 'ghcr.io/example/chat:1.4.2' }] } };
    const injected = injectSidecar(pod, policy, { serverVersion: { major: '1', minor: '32' }, openshift: false, sidecarImage: 'llmaudit/sidecar:dev' });
    const sidecar = [...(injected.spec.initContainers ?? []), ...injected.spec.containers].find((c) => c.name === SIDECAR_CONTAINER_NAME)!;
    const volumes = injected.spec.volumes ?? [];

    // ConfigMap llmaudit-<policy>-config as the operator renders it. The one change: the fixed
    // ports become 0 so parallel tests never collide (the proxy logs the ports it bound).
    const config = parse(renderConfigMapData(policy)[CONFIG_FILE_KEY]!) as Record<string, unknown>;
    for (const l of config.listeners as Array<{ port: number }>) l.port = 0;
    (config.admin as { port: number }).port = 0;
    configEdit(config);
    const podSc = injected.spec.securityContext;
    const configDir = path.join(base, 'config');
    await writeKubeletVolume(configDir, volumes.find((v) => v.name === VOLUME_NAMES.config)!, { [CONFIG_FILE_KEY]: stringify(config) }, podSc);

    // The signing Secret, with the file mode the injection asks the kubelet for.
    const key = signingKeys.generateKey(`llmaudit.dev/${POD.namespace}/${policy.metadata.name}`);
    const signingDir = path.join(base, 'signing');
    await writeKubeletVolume(signingDir, volumes.find((v) => v.name === VOLUME_NAMES.signing)!, { [SIGNING_FILE]: key.signerKey }, podSc);
    const verifierKeyFile = path.join(base, 'verifier.vkey');
    await writeFile(verifierKeyFile, key.verifierKey);

    // The PersistentVolumeClaim: writable by the sidecar's UID, nobody else.
    const logDir = path.join(base, 'log');
    await mkdir(logDir, { mode: 0o700 });
    const plan = planContainer({
      image: readImageConfig(path.join(repoRoot, 'Dockerfile.sidecar')),
      appSource: bundles.sidecar,
      container: sidecar,
      ...(podSc === undefined ? {} : { podSecurityContext: podSc }),
      volumes,
      volumeSources: { [VOLUME_NAMES.config]: configDir, [VOLUME_NAMES.signing]: signingDir, [VOLUME_NAMES.log]: logDir },
      pod: POD,
      serviceEnv: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
    });
    if (process.getuid?.() === 0) await chown(logDir, plan.uid, plan.gid);
    return { plan, app: injected.spec.containers.find((c) => c.name === 'chat')!, logDir, verifierKeyFile };
  }

  it('the injected container is what this sandbox runs: UID 10001, read-only root, /tmp and the log volume writable, nothing else', async () => {
    upstream = await startReplayUpstream({ status: FIXTURE.status, headers: { 'content-type': FIXTURE.contentType }, frames: FIXTURE.frames });
    const { plan } = await prepare('plan', testPolicy('chat-audit', POD.namespace, { endpoints: [{ name: 'openai', upstream: `${upstream.url}/v1`, api: 'openai' }] }));
    expect(plan).toMatchObject({ uid: 10001, gid: 10001, cwd: '/app', capDropAll: true, argv: ['/nodejs/bin/node', '--max-semi-space-size=8', '--heap-growing-percent=50', '/app/llmaudit.mjs', 'proxy', '--config', '/etc/llmaudit/config/config.yaml'] });
    expect(plan.mounts.filter((m) => m.kind !== 'ro-bind').map((m) => m.dest).sort()).toEqual(['/tmp', LOG_MOUNT_DIR]);
    expect(Object.keys(plan.env).sort()).toEqual(
      ['HOME', 'HOSTNAME', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'LLMAUDIT_APP_CONTAINER', 'LLMAUDIT_SERVICE_NAME', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'NODE_ENV', 'NODE_NAME', 'PATH', 'POD_NAME', 'POD_NAMESPACE', 'POD_UID', 'SSL_CERT_FILE'],
    );
  });

  it('negative control: in this sandbox a write anywhere but /tmp and the log volume is refused, and the process is not root', async () => {
    upstream = await startReplayUpstream();
    const { plan } = await prepare('control', testPolicy('chat-audit', POD.namespace, { endpoints: [{ name: 'openai', upstream: `${upstream.url}/v1`, api: 'openai' }] }));
    const targets = ['/probe', '/app/probe', '/etc/probe', '/etc/llmaudit/config/probe', '/etc/llmaudit/signing/probe', '/var/probe', '/var/lib/probe', '/usr/probe', '/nodejs/probe', path.join(repoRoot, 'probe'), '/tmp/probe', `${LOG_MOUNT_DIR}/probe`];
    const script = [
      "const fs = require('node:fs');",
      'const out = { uid: process.getuid(), gid: process.getgid(), writes: {}, reads: {} };',
      "for (const p of JSON.parse(process.argv[1])) { try { fs.writeFileSync(p, 'x'); out.writes[p] = 'ok'; } catch (e) { out.writes[p] = e.code; } }",
      "for (const p of JSON.parse(process.argv[2])) { try { fs.readFileSync(p); out.reads[p] = 'ok'; } catch (e) { out.reads[p] = e.code; } }",
      'console.log(JSON.stringify(out));',
    ].join('\n');
    const reads = ['/etc/llmaudit/config/config.yaml', `/etc/llmaudit/signing/${SIGNING_FILE}`, ...(existsSync('/etc/shadow') ? ['/etc/shadow'] : [])];
    running = startSandbox({ ...plan, argv: ['/nodejs/bin/node', '-e', script, JSON.stringify(targets), JSON.stringify(reads)] }, HOST_NODE);
    expect(await running.exited, running.output()).toBe(0);
    const report = running.lines[0] as { uid: number; gid: number; writes: Record<string, string>; reads: Record<string, string> };
    expect(report.uid).toBe(10001);
    expect(report.gid).toBe(10001);
    const expected = Object.fromEntries(targets.map((t) => [t, t === '/tmp/probe' || t === `${LOG_MOUNT_DIR}/probe` ? 'ok' : 'EROFS']));
    expect(report.writes).toEqual(expected);
    // The config and the key (0444) are readable; a root-only host file is not (no root, even mapped).
    expect(report.reads).toEqual({ '/etc/llmaudit/config/config.yaml': 'ok', [`/etc/llmaudit/signing/${SIGNING_FILE}`]: 'ok', ...(existsSync('/etc/shadow') ? { '/etc/shadow': 'EACCES' } : {}) });
  });

  it('negative control: a proxy whose log directory is outside its volumes fails at start with LLMAUDIT_E_LOG_READONLY', async () => {
    // Regression: Node's recursive mkdir reported ENOENT for the read-only root, so this read LLMAUDIT_E_LOG_WRITE "ENOENT".
    upstream = await startReplayUpstream();
    const policy = testPolicy('chat-audit', POD.namespace, { endpoints: [{ name: 'openai', upstream: `${upstream.url}/v1`, api: 'openai' }] });
    const { plan } = await prepare('misplaced', policy, (config) => {
      (config.log as { dir: string }).dir = '/var/lib/llmaudit-elsewhere';
    });
    running = startSandbox(plan, HOST_NODE);
    expect(await running.exited).toBe(1);
    expect(running.text.join('\n')).toMatch(/^llmaudit: LLMAUDIT_E_LOG_READONLY: .*\/var\/lib\/llmaudit-elsewhere.*: EROFS$/m);
  });

  it('serves a recorded OpenAI stream to the official client, exits 0 on SIGTERM, writes only its log volume, and the log verifies', async () => {
    upstream = await startReplayUpstream({ status: FIXTURE.status, headers: { 'content-type': FIXTURE.contentType }, frames: FIXTURE.frames });
    const policy = testPolicy('chat-audit', POD.namespace, { endpoints: [{ name: 'openai', upstream: `${upstream.url}/v1`, api: 'openai' }] });
    const { plan, app, logDir, verifierKeyFile } = await prepare('traffic', policy);
    running = startSandbox(plan, HOST_NODE);
    const started = await running.waitFor('proxy started');
    const pid = await running.pid;

    // Non-root, no capabilities at all, no privilege escalation: as the host kernel sees it.
    const status = processStatus(pid);
    const hostUid = String(expectedHostUid(plan));
    expect(status.Uid!.split(/\s+/)).toEqual([hostUid, hostUid, hostUid, hostUid]);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status[set], set).toBe('0000000000000000');
    expect(status.NoNewPrivs).toBe('1');

    expect(started).toMatchObject({ mode: 'kubernetes', origin: `llmaudit.dev/${POD.namespace}/${POD.name}/${POD.uid}`, chainDir: `${LOG_MOUNT_DIR}/${POD.namespace}/${POD.name}_${POD.uid}` });
    // The app container's OPENAI_BASE_URL, on the port the proxy bound.
    const baseURL = new URL(app.env!.find((e) => e.name === 'OPENAI_BASE_URL')!.value!);
    baseURL.port = String((started.listeners as Array<{ port: number }>)[0]!.port);
    const client = new OpenAI({ baseURL: baseURL.toString(), apiKey: API_KEY, maxRetries: 0 });
    const request = FIXTURE.request as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;
    let text = '';
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) text += chunk.choices[0]?.delta.content ?? '';
    const expectedText = FIXTURE.frames
      .map((f) => f.toString('utf8').replace(/^data: /, '').trim())
      .filter((d) => d.startsWith('{'))
      .map((d) => (JSON.parse(d) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? '')
      .join('');
    expect(text).toBe(expectedText);
    expect(upstream.requests[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions' });

    process.kill(pid, 'SIGTERM');
    expect(await running.exited, running.output()).toBe(0);
    expect(running.lines.find((l) => l.msg === 'shut down: log sealed'), running.output()).toMatchObject({ size: 1, clean: true });
    // Nothing it tried to write was refused, and nothing went wrong.
    expect(running.output()).not.toMatch(WRITE_REFUSED);
    expect(running.lines.filter((l) => (l.level as number) >= 50), running.output()).toEqual([]);

    const chainDir = path.join(logDir, POD.namespace, `${POD.name}_${POD.uid}`);
    const segs = (await readdir(chainDir)).filter((n) => n.startsWith('seg-'));
    const entries = (await Promise.all(segs.map((s) => readFile(path.join(chainDir, s), 'utf8')))).join('').trim().split('\n');
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]!)).toMatchObject({ response: { status: 200, complete: true, streamed: true } });
    expect(entries.join('\n')).not.toContain(API_KEY);
    const verify = spawnSync(process.execPath, [path.join(bundles.sidecar, 'llmaudit.mjs'), 'verify', chainDir, '--key', verifierKeyFile, '--no-progress'], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toContain('intact');
    expect(verify.status).toBe(0);
  });
});
