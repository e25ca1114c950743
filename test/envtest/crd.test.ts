// The AuditPolicy CRD on a real kube-apiserver: installed as users install it (kubectl apply -f
// charts/llmaudit/crds/), documented for kubectl explain, every CEL rule run by real creates and
// updates, defaults as parse-policy.ts expects them, dry-run and server-side apply.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPolicyCrd } from '../../operator/src/api/crd.ts';
import { costBoundProblems, defaultProblems, type Schema } from '../../operator/src/api/crd-admission.ts';
import { parseAuditPolicy } from '../../operator/src/api/parse-policy.ts';
import { repoRoot } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, kubectlWaitEstablished, startEnvtest, type Envtest } from './harness.ts';

const run = promisify(execFile);
const kubectlBin = path.join(repoRoot, '.tools/bin/kubectl');
const CRD_NAME = 'auditpolicies.llmaudit.dev';
const NS = 'crd-test';
const BASE = `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies`;

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

type Spec = Record<string, unknown>;
interface Status {
  message?: string;
}
interface Stored {
  metadata: { name: string; resourceVersion: string; managedFields?: { manager: string; operation: string }[] };
  spec: Spec;
}

const openai = { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' };
const ollama = { name: 'ollama', api: 'ollama', takeOverPort: 11434 };
const policy = (name: string, spec: Spec): Record<string, unknown> => ({ apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name }, spec });

/** Specs each CEL rule refuses, with the API server's `<field>: <detail>`. */
const REFUSED: [rule: string, spec: Spec, error: string][] = [
  ['takeOverPort only for ollama', { endpoints: [{ ...openai, takeOverPort: 11434 }] }, 'spec.endpoints[0].takeOverPort: Invalid value: "object": takeOverPort is only for api: ollama'],
  ['takeOverPort needs api set to ollama, not the default auto', { endpoints: [{ name: 'o', upstream: 'http://o', takeOverPort: 11434 }] }, 'spec.endpoints[0].takeOverPort: Invalid value: "object": takeOverPort is only for api: ollama'],
  ['upstream unless takeOverPort', { endpoints: [{ name: 'x', api: 'openai' }] }, 'spec.endpoints[0].upstream: Required value: upstream is required unless takeOverPort is set'],
  ['takeOverBackendPort needs takeOverPort', { endpoints: [{ ...openai, takeOverBackendPort: 11500 }] }, 'spec.endpoints[0]: Invalid value: "object": takeOverBackendPort and takeOverContainer need takeOverPort'],
  ['takeOverContainer needs takeOverPort', { endpoints: [{ ...openai, takeOverContainer: 'llm' }] }, 'spec.endpoints[0]: Invalid value: "object": takeOverBackendPort and takeOverContainer need takeOverPort'],
  ['takeOverPort differs from the default backend port', { endpoints: [{ ...ollama, takeOverPort: 11435 }] }, 'spec.endpoints[0].takeOverBackendPort: Invalid value: "object": takeOverPort and takeOverBackendPort must differ'],
  ['takeOverPort differs from takeOverBackendPort', { endpoints: [{ ...ollama, takeOverBackendPort: 11434 }] }, 'spec.endpoints[0].takeOverBackendPort: Invalid value: "object": takeOverPort and takeOverBackendPort must differ'],
  ['env unique', { endpoints: [{ ...openai, env: 'X' }, { name: 'b', upstream: 'http://b', env: 'X' }] }, 'spec.endpoints: Invalid value: "array": env names must be unique across endpoints'],
  ['takeover unique', { endpoints: [ollama, { ...ollama, name: 'ollama2' }] }, 'spec.endpoints: Invalid value: "array": a port can be taken over by one endpoint only'],
  ['path prefix unique', { endpoints: [openai, { name: 'b', upstream: 'http://b', pathPrefix: '/openai' }] }, 'spec.endpoints: Invalid value: "array": path prefixes must be unique across endpoints'],
  ['exactly one storage: both', { endpoints: [openai], storage: { existingClaim: 'x', create: {} } }, 'spec.storage: Invalid value: "object": set exactly one of existingClaim or create'],
  ['exactly one storage: none', { endpoints: [openai], storage: {} }, 'spec.storage: Invalid value: "object": set exactly one of existingClaim or create'],
  ['proxy and admin ports differ', { endpoints: [openai], sidecar: { ports: { proxy: 9000, admin: 9000 } } }, 'spec.sidecar.ports: Invalid value: "object": proxy and admin ports must differ'],
  ['proxy port differs from the default admin port', { endpoints: [openai], sidecar: { ports: { proxy: 9090 } } }, 'spec.sidecar.ports: Invalid value: "object": proxy and admin ports must differ'],
  ['endpoint port differs from the default proxy port', { endpoints: [{ ...openai, port: 15080 }] }, 'spec.endpoints: Invalid value: "object": endpoint ports must differ from sidecar.ports.proxy and sidecar.ports.admin'],
  ['takeover port differs from a set admin port', { endpoints: [ollama], sidecar: { ports: { admin: 11434 } } }, 'spec.endpoints: Invalid value: "object": endpoint ports must differ from sidecar.ports.proxy and sidecar.ports.admin'],
];

/** Specs the same rules accept (edges of the ones above). */
const ACCEPTED: [what: string, spec: Spec][] = [
  ['one endpoint, everything defaulted', { endpoints: [openai] }],
  ['ollama takeover with its own backend port and container', { endpoints: [{ ...ollama, takeOverBackendPort: 11500, takeOverContainer: 'llm' }] }],
  ['empty env names may repeat', { endpoints: [{ ...openai, env: '' }, { name: 'b', upstream: 'http://b', env: '' }] }],
  ['an endpoint port on the default admin port once admin moved', { endpoints: [{ ...openai, port: 9090 }], sidecar: { ports: { admin: 9191 } } }],
  ['an existing claim instead of a created one', { endpoints: [openai], storage: { existingClaim: 'logs.v2' } }],
];

async function kubectl(env: Envtest, ...args: string[]): Promise<string> {
  const { stdout } = await run(kubectlBin, ['--kubeconfig', env.kubeconfig, ...args], { cwd: repoRoot });
  return stdout;
}

describe.skipIf(envtestAssets() === undefined)('AuditPolicy CRD on a real API server', () => {
  let env: Envtest;

  beforeAll(async () => {
    env = await startEnvtest();
    await env.createNamespace(NS);
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  const create = (name: string, spec: Spec, query?: Record<string, string>) =>
    env.api<Stored & Status>('POST', BASE, policy(name, spec), query === undefined ? {} : { query });
  const replaceSpec = async (name: string, spec: Spec) => {
    const cur = await env.api<Stored>('GET', `${BASE}/${name}`);
    return env.api<Stored & Status>('PUT', `${BASE}/${name}`, { ...policy(name, spec), metadata: { name, resourceVersion: cur.body.metadata.resourceVersion } });
  };

  it('kubectl apply -f charts/llmaudit/crds/ creates the CRD, which becomes Established', async () => {
    expect(await kubectl(env, 'apply', '-f', path.join(repoRoot, 'charts/llmaudit/crds/'))).toContain(`customresourcedefinition.apiextensions.k8s.io/${CRD_NAME} created`);
    expect(await kubectlWaitEstablished(env, kubectlBin, CRD_NAME)).toContain('condition met');
    // Applying it again (an upgrade with no change) is a no-op.
    expect(await kubectl(env, 'apply', '-f', path.join(repoRoot, 'charts/llmaudit/crds/'))).toContain('unchanged');
  });

  it('kubectl explain shows the descriptions', async () => {
    // The API server publishes the CRD's OpenAPI a moment after it is Established; nothing to watch.
    const spec = await eventually(() => kubectl(env, 'explain', 'auditpolicy.spec'), 'kubectl explain auditpolicy.spec');
    expect(spec).toContain('What to record and how');
    expect(spec).toMatch(/endpoints\s+<\[\]Object> -required-/);
    expect(spec).toContain('LLM APIs the sidecar proxies');
    const ports = await kubectl(env, 'explain', 'auditpolicy.spec.sidecar.ports');
    expect(ports).toContain('Ports the sidecar listens on.');
    expect(ports).toContain('Admin port: /healthz, /readyz, /metrics.');
    expect(await kubectl(env, 'explain', 'auditpolicy.spec.governance')).toMatch(/Governance enforced in the data path/);
    expect(await kubectl(env, 'explain', 'auditpolicy.spec.governance.detectors')).toMatch(/Built-in detectors to run/);
  });

  it.each(REFUSED)('create refused: %s', async (_rule, spec, error) => {
    const r = await create('refused', spec);
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(`AuditPolicy.llmaudit.dev "refused" is invalid: ${error}`);
  });

  it.each(REFUSED)('update refused: %s', async (rule, spec, error) => {
    const name = 'upd-' + REFUSED.findIndex(([r]) => r === rule);
    expect((await create(name, { endpoints: [openai] })).status).toBe(201);
    const r = await replaceSpec(name, spec);
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(`AuditPolicy.llmaudit.dev "${name}" is invalid: ${error}`);
  });

  it.each(ACCEPTED)('create and update accepted: %s', async (what, spec) => {
    const name = 'ok-' + ACCEPTED.findIndex(([w]) => w === what);
    expect((await create(name, { endpoints: [{ name: 'first', upstream: 'http://first' }] })).status).toBe(201);
    const r = await replaceSpec(name, spec);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const again = await create(`${name}-new`, spec);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });

  it('the name rule: at most 63 characters', async () => {
    const long = 'x'.repeat(64);
    const r = await create(long, { endpoints: [openai] });
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(`AuditPolicy.llmaudit.dev "${long}" is invalid: metadata.name: Invalid value: "object": AuditPolicy names are at most 63 characters: they are used as a label value`);
    expect((await create('x'.repeat(63), { endpoints: [openai] })).status).toBe(201);
  });

  it.each([
    ['minimal', { endpoints: [openai] }],
    ['partial sections', { endpoints: [ollama], log: { retention: { maxAgeDays: 3 } }, storage: { create: { size: '2Gi' } }, sidecar: { ports: { proxy: 15081 } }, signing: { secretRef: { name: 'keys' } }, capture: { mode: 'metadata' } }],
  ] as const)('the API server fills the defaults parse-policy.ts expects (%s)', async (what, spec) => {
    const r = await create(`defaults-${what.replace(' ', '-')}`, spec);
    expect(r.status).toBe(201);
    expect(r.body.spec).toEqual(parseAuditPolicy(policy('p', spec)).spec);
  });

  it('log.retention.mode: defaulted to erase-content, delete-segments kept, anything else refused with the allowed values', async () => {
    const d = await create('mode-default', { endpoints: [openai], log: { retention: { maxAgeDays: 30 } } });
    expect(d.status).toBe(201);
    expect(d.body.spec.log).toMatchObject({ retention: { maxAgeDays: 30, mode: 'erase-content' } });
    const del = await create('mode-delete', { endpoints: [openai], log: { retention: { maxTotalBytes: '5Gi', mode: 'delete-segments' } } });
    expect(del.status).toBe(201);
    expect(del.body.spec.log).toMatchObject({ retention: { maxTotalBytes: '5Gi', mode: 'delete-segments' } });
    expect(del.body.spec).toEqual(parseAuditPolicy(policy('mode-delete', { endpoints: [openai], log: { retention: { maxTotalBytes: '5Gi', mode: 'delete-segments' } } })).spec);
    const bad = await create('mode-bad', { endpoints: [openai], log: { retention: { mode: 'delete' } } });
    expect(bad.status).toBe(422);
    // The API server also says the CEL rules were not run on an object that failed the schema.
    expect(bad.body.message).toMatch(/^AuditPolicy\.llmaudit\.dev "mode-bad" is invalid: \[spec\.log\.retention\.mode: Unsupported value: "delete": supported values: "erase-content", "delete-segments", /);
    const long = await create('mode-long', { endpoints: [openai], log: { retention: { mode: 'delete-segments-now' } } });
    expect(long.status).toBe(422);
    expect(long.body.message).toContain('spec.log.retention.mode: Too long: may not be');
  });

  it('a server-side dry-run create is validated and stores nothing', async () => {
    const ok = await create('dry', { endpoints: [openai] }, { dryRun: 'All' });
    expect(ok.status).toBe(201);
    expect(ok.body.spec).toMatchObject({ sidecar: { ports: { proxy: 15080, admin: 9090 } } });
    expect((await env.api('GET', `${BASE}/dry`)).status).toBe(404);
    const bad = await create('dry', { endpoints: [openai], storage: {} }, { dryRun: 'All' });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain('spec.storage: Invalid value: "object": set exactly one of existingClaim or create');
    expect((await env.api('GET', `${BASE}/dry`)).status).toBe(404);
  });

  it('server-side apply with a field manager creates, updates, validates and records ownership', async () => {
    const apply = (spec: Spec, manager: string) =>
      env.api<Stored & Status>('PATCH', `${BASE}/ssa`, policy('ssa', spec), { contentType: 'application/apply-patch+yaml', query: { fieldManager: manager } });
    const created = await apply({ endpoints: [openai] }, 'llmaudit-test');
    expect(created.status).toBe(201);
    expect(created.body.metadata.managedFields).toEqual(expect.arrayContaining([expect.objectContaining({ manager: 'llmaudit-test', operation: 'Apply' })]));
    const updated = await apply({ endpoints: [openai], capture: { mode: 'metadata' } }, 'llmaudit-test');
    expect(updated.status).toBe(200);
    expect(updated.body.spec.capture).toMatchObject({ mode: 'metadata' });
    const refused = await apply({ endpoints: [openai], sidecar: { ports: { proxy: 9090 } } }, 'llmaudit-test');
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('spec.sidecar.ports: Invalid value: "object": proxy and admin ports must differ');
    // Another manager setting a field this one owns conflicts unless it forces.
    const conflict = await apply({ endpoints: [openai], capture: { mode: 'full' } }, 'someone-else');
    expect(conflict.status).toBe(409);
  });

  it('the rule cost limits are live: without endpoints.maxItems the CRD is refused, as crd-admission.ts predicts', async () => {
    const crd = auditPolicyCrd() as { metadata: Record<string, unknown>; spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    const endpoints = ((schema.properties as Record<string, Schema>).spec!.properties as Record<string, Schema>).endpoints!;
    delete endpoints.maxItems;
    expect(costBoundProblems(schema)).toContain('.spec.endpoints: rule "self.all(e, !has(e.env) || e.env == \'\' || self.filter(f, has(f.env) && f.env == e.env).size() == 1)" reads list self, which has no maxItems');
    const cur = await env.api<{ metadata: { resourceVersion: string } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
    crd.metadata.resourceVersion = cur.body.metadata.resourceVersion;
    const r = await env.api<Status>('PUT', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`, crd);
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('spec.validation.openAPIV3Schema.properties[spec].properties[endpoints].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of');
  });

  it('a CRD whose rule fails on a default is refused with the message crd-admission.ts predicts', async () => {
    // The sidecar.ports rule that once read absent fields, and one that is false on the default.
    for (const rule of ['self.proxy != self.admin', 'has(self.proxy)']) {
      const crd = auditPolicyCrd() as { metadata: Record<string, unknown>; spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
      const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
      const spec = (schema.properties as Record<string, Schema>).spec!;
      const sidecar = (spec.properties as Record<string, Schema>).sidecar!;
      const ports = (sidecar.properties as Record<string, Schema>).ports!;
      ports['x-kubernetes-validations'] = [{ rule, message: 'proxy and admin ports must differ' }];
      const predicted = defaultProblems(schema);
      expect(predicted).toHaveLength(1);
      const cur = await env.api<{ metadata: { resourceVersion: string } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
      crd.metadata.resourceVersion = cur.body.metadata.resourceVersion;
      const r = await env.api<Status>('PUT', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`, crd);
      expect(r.status).toBe(422);
      expect(r.body.message).toBe(`CustomResourceDefinition.apiextensions.k8s.io "${CRD_NAME}" is invalid: spec.validation.${predicted[0]}`);
    }
  });
});
