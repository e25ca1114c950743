// A real Kubernetes API server for tests: kube-apiserver + etcd from the folder named by
// KUBEBUILDER_ASSETS (the convention of controller-runtime's envtest and setup-envtest). CI points
// it at the envtest binaries when they are present; without it the suites that need a real API
// server say so and do not run (see `envtestAssets()`).
//
// Each `startEnvtest()` is a private control plane: its own temp dir, free loopback ports, a CA and
// serving certificate made with openssl, a service-account signing key, and a static admin token.
// No controller-manager, scheduler or kubelet: admission (CRD validation and CEL, defaulting,
// mutating webhooks with a `url:` clientConfig, RBAC, TokenRequest, server-side apply, dry-run,
// watches) is the real thing; garbage collection and pod scheduling are not.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';

const execFileAsync = promisify(execFile);

export interface Envtest {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** Bearer token of a `system:masters` user. */
  readonly adminToken: string;
  /** PEM of the CA that signed the API server's serving certificate (and client certificates). */
  readonly caPem: string;
  /** A kubeconfig file for the admin user, for kubectl and helm (`--kubeconfig`). */
  readonly kubeconfig: string;
  /** The temp dir holding certificates, etcd data and logs. */
  readonly dir: string;
  /** An undici dispatcher trusting the API server's CA. */
  readonly dispatcher: Agent;
  /** A raw request as admin (or with `token`), JSON in and out. */
  api<T = unknown>(method: string, apiPath: string, body?: unknown, opts?: ApiOptions): Promise<ApiResponse<T>>;
  /** A kubeconfig for a bearer token (e.g. a ServiceAccount's TokenRequest token). */
  kubeconfigFor(token: string, name: string): Promise<string>;
  /** Creates a namespace and its `default` ServiceAccount (no controller-manager makes it here). */
  createNamespace(name: string): Promise<void>;
  /** A token for `namespace/serviceAccount` from the TokenRequest API. */
  serviceAccountToken(namespace: string, serviceAccount: string): Promise<string>;
  stop(): Promise<void>;
}

export interface ApiOptions {
  token?: string;
  contentType?: string;
  query?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

const BINARIES = ['kube-apiserver', 'etcd'] as const;

/** The assets folder when KUBEBUILDER_ASSETS names one holding both binaries, else undefined. */
export function envtestAssets(): string | undefined {
  const dir = process.env.KUBEBUILDER_ASSETS;
  if (dir === undefined || dir === '') return undefined;
  return BINARIES.every((b) => existsSync(path.join(dir, b))) ? path.resolve(dir) : undefined;
}

/** Why the envtest suites do not run here; printed once by the suites that need it. */
export const ENVTEST_SKIP_REASON =
  'KUBEBUILDER_ASSETS is not set to a folder with kube-apiserver and etcd: the suites that need a real API server do not run';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function makeCertificates(dir: string): Promise<void> {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=envtest-ca');
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver');
  await writeFile(path.join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, 'x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '2', '-extfile', 'ext');
  openssl(dir, 'genrsa', '-out', 'sa.key', '2048');
  openssl(dir, 'rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

function kubeconfigText(url: string, caPem: string, token: string, user: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: envtest`,
    '  cluster:',
    `    server: ${url}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    `- name: ${user}@envtest`,
    '  context:',
    '    cluster: envtest',
    `    user: ${user}`,
    `current-context: ${user}@envtest`,
    '',
  ].join('\n');
}

function startProcess(cmd: string, args: string[], logFile: string): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (c: Buffer): void => {
    // The last ~256 KiB is enough to explain a failed start; the rest is dropped.
    chunks.push(c);
    size += c.length;
    while (size > 256 * 1024 && chunks.length > 1) size -= chunks.shift()!.length;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => {
    void writeFile(logFile, Buffer.concat(chunks)).catch(() => undefined);
  });
  (child as ChildProcess & { logTail?: () => string }).logTail = () => Buffer.concat(chunks).toString('utf8').slice(-4000);
  return child;
}

function tail(child: ChildProcess): string {
  return (child as ChildProcess & { logTail?: () => string }).logTail?.() ?? '';
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface StartOptions {
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** How long to wait for /readyz; default 60 s. */
  readyTimeoutMs?: number;
}

export async function startEnvtest(opts: StartOptions = {}): Promise<Envtest> {
  const assets = envtestAssets();
  if (assets === undefined) throw new Error(ENVTEST_SKIP_REASON);
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-envtest-'));
  await makeCertificates(dir);
  const adminToken = 'admin-token-' + Math.random().toString(36).slice(2);
  await writeFile(path.join(dir, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];

  const etcd = startProcess(
    path.join(assets, 'etcd'),
    [
      '--data-dir', path.join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
    ],
    path.join(dir, 'etcd.log'),
  );
  const apiserver = startProcess(
    path.join(assets, 'kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
      `--client-ca-file=${path.join(dir, 'ca.crt')}`,
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      ...(opts.apiserverArgs ?? []),
    ],
    path.join(dir, 'apiserver.log'),
  );
  const caPem = await readFile(path.join(dir, 'ca.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca: caPem }, pipelining: 0 });
  const url = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigText(url, caPem, adminToken, 'admin'));

  const api = async <T>(method: string, apiPath: string, body?: unknown, o: ApiOptions = {}): Promise<ApiResponse<T>> => {
    const q = o.query === undefined ? '' : '?' + new URLSearchParams(o.query).toString();
    const res = await request(url + apiPath + q, {
      method: method as 'GET',
      dispatcher,
      headers: {
        authorization: `Bearer ${o.token ?? adminToken}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': o.contentType ?? 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // /readyz and friends answer text.
    }
    return { status: res.statusCode, body: parsed as T };
  };

  const stop = async (): Promise<void> => {
    await stopProcess(apiserver);
    await stopProcess(etcd);
    await dispatcher.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let last = '';
  for (;;) {
    if (apiserver.exitCode !== null || etcd.exitCode !== null) {
      const why = `kube-apiserver exited ${apiserver.exitCode}, etcd exited ${etcd.exitCode}\n${tail(apiserver)}\n${tail(etcd)}`;
      await stop();
      throw new Error(`envtest did not start: ${why}`);
    }
    try {
      const r = await api<string>('GET', '/readyz');
      if (r.status === 200) break;
      last = `readyz ${r.status}: ${String(r.body).slice(0, 500)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`envtest not ready in time (${last})\n${tail(apiserver)}`);
    }
    // The API server has no event to await for readiness: poll /readyz, as envtest does.
    await new Promise((r) => setTimeout(r, 100));
  }

  const createNamespace = async (name: string): Promise<void> => {
    const ns = await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    if (ns.status !== 201 && ns.status !== 409) throw new Error(`create namespace ${name}: ${ns.status} ${JSON.stringify(ns.body)}`);
    const sa = await api('POST', `/api/v1/namespaces/${name}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default' },
    });
    if (sa.status !== 201 && sa.status !== 409) throw new Error(`create default ServiceAccount in ${name}: ${sa.status}`);
  };

  const serviceAccountToken = async (namespace: string, serviceAccount: string): Promise<string> => {
    const r = await api<{ status?: { token?: string } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } },
    );
    const token = r.body.status?.token;
    if (r.status !== 201 || token === undefined) throw new Error(`TokenRequest ${namespace}/${serviceAccount}: ${r.status} ${JSON.stringify(r.body)}`);
    return token;
  };

  const kubeconfigFor = async (token: string, name: string): Promise<string> => {
    const file = path.join(dir, `kubeconfig-${name}`);
    await writeFile(file, kubeconfigText(url, caPem, token, name));
    return file;
  };

  return { url, adminToken, caPem, kubeconfig, dir, dispatcher, api, kubeconfigFor, createNamespace, serviceAccountToken, stop };
}

/** Polls `fn` until it returns a value other than undefined, for conditions the API has no watch for. */
export async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr === undefined ? '' : `: ${String(lastErr)}`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `kubectl wait --for=condition=Established crd/<name>`, as a user runs it after `kubectl apply`.
 * kubectl fails at once instead of waiting when it reads a CRD the API server has stored but whose
 * establishing controller has not yet written any condition (`.status.conditions accessor error:
 * <nil> is of the type <nil>`, kubernetes/kubernetes#66439); that answer, and only that one, is
 * asked again. Returns kubectl's stdout.
 */
export async function kubectlWaitEstablished(env: Envtest, kubectlBin: string, crd: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    try {
      const { stdout } = await execFileAsync(kubectlBin, ['--kubeconfig', env.kubeconfig, 'wait', '--for=condition=Established', `crd/${crd}`, `--timeout=${left}s`]);
      return stdout;
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      if (!stderr.includes('.status.conditions accessor error') || Date.now() > deadline) throw err;
    }
  }
}
