import { readFile } from 'node:fs/promises';
import { run } from '@bufbuild/cel';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { auditPolicyCrd, auditPolicyCrdYaml, auditPolicySchema, PRINTER_COLUMNS, toKubeSchema } from './crd.ts';
import { crossFieldProblems, parseAuditPolicy } from './parse-policy.ts';
import { resolveJsonPath, structuralProblems, undocumentedFields } from './structural-schema.ts';
import { AuditPolicySpec, type AuditPolicy } from './audit-policy.ts';

const CRD_FILE = new URL('../../../charts/llmaudit/crds/auditpolicies.llmaudit.dev.yaml', import.meta.url);

function policy(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'p', namespace: 'ns' }, spec };
}
const openai = { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' };
const ollama = { name: 'ollama', api: 'ollama', takeOverPort: 11434 };

describe('AuditPolicy CRD', () => {
  it('reads back as generated under YAML 1.1, the YAML kubectl and helm read', async () => {
    // Regression: an enum value `off` was written unquoted; kubectl read it as the boolean false and
    // the API server refused the CRD ("default: Invalid value: \"boolean\": must be of type string").
    const text = await readFile(CRD_FILE, 'utf8');
    expect(parse(text, { version: '1.1' })).toEqual(auditPolicyCrd());
    expect(parse(text)).toEqual(auditPolicyCrd());
  });

  it('has a structural schema', () => {
    expect(structuralProblems(auditPolicySchema())).toEqual([]);
  });

  it('the structural checker finds the violations the API server rejects', () => {
    const bad = {
      type: 'object',
      properties: {
        untyped: { description: 'x' },
        list: { type: 'array' },
        junctor: { type: 'object', anyOf: [{ properties: { a: { type: 'string' } } }] },
        meta: { type: 'object', additionalProperties: false },
        odd: { type: 'string', const: 'x' },
      },
    };
    const problems = structuralProblems(bad);
    expect(problems).toEqual(expect.arrayContaining([
      '.untyped: type is required',
      '.list: an array needs items (one schema)',
      '.junctor: anyOf names field a not specified outside it',
      '.junctor(anyOf[0]).a: type is not allowed inside allOf/anyOf/oneOf/not',
      '.meta: additionalProperties: false is not allowed',
      '.odd: keyword const is not allowed',
    ]));
    expect(() => toKubeSchema({ type: 'object', properties: { x: { const: 1 } } })).toThrow(/const/);
  });

  it('describes every field, so kubectl explain helps', () => {
    expect(undocumentedFields(auditPolicySchema())).toEqual([]);
  });

  it('preserves no unknown fields: every field is typed, governance included', () => {
    const paths: string[] = [];
    const walk = (n: Record<string, unknown>, p: string): void => {
      if (n['x-kubernetes-preserve-unknown-fields'] === true) paths.push(p);
      for (const [k, v] of Object.entries((n.properties as Record<string, Record<string, unknown>> | undefined) ?? {})) walk(v, `${p}.${k}`);
      if (n.items !== undefined) walk(n.items as Record<string, unknown>, `${p}[]`);
    };
    walk(auditPolicySchema(), '');
    expect(paths).toEqual([]);
  });

  it('every printer column JSONPath names a schema field of the column type', () => {
    const schema = auditPolicySchema();
    for (const col of PRINTER_COLUMNS) {
      const leaf = resolveJsonPath(schema, col.jsonPath);
      expect(leaf, col.jsonPath).toBeDefined();
      if (col.jsonPath.startsWith('.status')) {
        if (col.type === 'integer') expect(leaf?.type, col.name).toBe('integer');
        if (col.type === 'date') expect(leaf?.format, col.name).toBe('date-time');
        if (col.type === 'string') expect(leaf?.type, col.name).toBe('string');
      }
    }
    expect(resolveJsonPath(schema, '.status.nope')).toBeUndefined();
    expect(resolveJsonPath(schema, '.status.conditions[?(@.kind=="Ready")].status')).toBeUndefined();
    expect(PRINTER_COLUMNS.map((c) => c.name)).toEqual(['Ready', 'Pods', 'Missing', 'Chains', 'Entries', 'Verified', 'Last Checkpoint', 'Age']);
  });

  it('names, scope, short name, category and status subresource', () => {
    const crd = auditPolicyCrd() as { spec: { names: Record<string, unknown>; scope: string; versions: { subresources: unknown; name: string }[] } };
    expect(crd.spec.names).toMatchObject({ kind: 'AuditPolicy', plural: 'auditpolicies', shortNames: ['ap'], categories: ['llmaudit'] });
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.versions[0]).toMatchObject({ name: 'v1alpha1', subresources: { status: {} } });
  });

  it('the committed CRD YAML is the generated one (make crds)', async () => {
    const committed = await readFile(CRD_FILE, 'utf8');
    expect(committed).toBe(auditPolicyCrdYaml());
    expect(parse(committed)).toEqual(auditPolicyCrd());
  });
});

describe('parseAuditPolicy', () => {
  it('fills defaults the way the API server does', () => {
    const p = parseAuditPolicy(policy({ endpoints: [openai] }));
    expect(p.spec.capture).toEqual({ mode: 'full', redactHeaders: [], maxBodyBytes: 1048576, maxDecodedBytes: 8388608, mediaThresholdBytes: 65536 });
    expect(p.spec.storage).toEqual({ create: { size: '1Gi', accessModes: ['ReadWriteOnce'] } });
    expect(p.spec.sidecar.ports).toEqual({ proxy: 15080, admin: 9090 });
    expect(p.spec.log).toMatchObject({ durability: 'batched', onLogFailure: 'block', retention: { mode: 'erase-content' } });
    expect(p.spec.endpoints[0]?.overrideEnv).toBe(false);
  });

  it('rejects with every problem and its path', () => {
    let err: unknown;
    try {
      parseAuditPolicy(policy({ endpoints: [{ ...openai, upstream: 'ftp://x' }], capture: { mode: 'everything' } }));
    } catch (e) {
      err = e;
    }
    expect(isLlmauditError(err, 'LLMAUDIT_E_POLICY_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/\/spec\/endpoints\/0\/upstream/);
    expect((err as Error).message).toMatch(/\/spec\/capture\/mode/);
  });
});

/** Kubernetes CEL sees integers as int, objects as maps. */
function toCel(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toCel);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (v !== null && typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}

/** Evaluates every x-kubernetes-validations rule of the schema against a (defaulted) object. */
function celFailures(schema: Record<string, unknown>, value: unknown): string[] {
  const out: string[] = [];
  const walk = (s: Record<string, unknown>, v: unknown): void => {
    if (v === undefined) return;
    for (const r of (s['x-kubernetes-validations'] as { rule: string; message: string }[] | undefined) ?? []) {
      const ok = run(r.rule, { self: toCel(v) } as never);
      if (ok !== true) out.push(r.message);
    }
    const props = s.properties as Record<string, Record<string, unknown>> | undefined;
    if (props !== undefined && v !== null && typeof v === 'object') for (const [k, sub] of Object.entries(props)) walk(sub, (v as Record<string, unknown>)[k]);
    if (s.items !== undefined && Array.isArray(v)) for (const x of v) walk(s.items as Record<string, unknown>, x);
  };
  walk(schema, value);
  return out;
}

describe('CEL rules (evaluated with a real CEL engine) agree with crossFieldProblems', () => {
  const valid = [
    { endpoints: [openai] },
    { endpoints: [openai, ollama, { name: 'claude', upstream: 'https://api.anthropic.com', api: 'anthropic', port: 15081 }] },
    { endpoints: [openai], storage: { existingClaim: 'logs.v2' }, signing: { secretRef: { name: 'keys.team-a' } } },
    { endpoints: [{ ...ollama, takeOverBackendPort: 11500, takeOverContainer: 'llm' }] },
    { endpoints: [{ ...openai, env: 'A' }, { name: 'b', upstream: 'http://b', env: '' }, { name: 'c', upstream: 'http://c', env: '' }] },
  ];
  const invalid: [string, Record<string, unknown>][] = [
    ['takeover on openai', { endpoints: [{ ...openai, takeOverPort: 11434 }] }],
    ['no upstream', { endpoints: [{ name: 'x', api: 'openai' }] }],
    ['backend port without takeover', { endpoints: [{ ...openai, takeOverBackendPort: 1 }] }],
    ['takeover = backend', { endpoints: [{ ...ollama, takeOverPort: 11435 }] }],
    ['duplicate env', { endpoints: [{ ...openai, env: 'X' }, { name: 'b', upstream: 'http://b', env: 'X' }] }],
    ['duplicate takeover', { endpoints: [ollama, { ...ollama, name: 'ollama2' }] }],
    ['duplicate prefix', { endpoints: [openai, { name: 'b', upstream: 'http://b', pathPrefix: '/openai' }] }],
    ['port = proxy port', { endpoints: [{ ...openai, port: 15080 }] }],
    ['takeover = admin port', { endpoints: [{ ...ollama, takeOverPort: 9090 }] }],
    ['proxy = admin', { endpoints: [openai], sidecar: { ports: { proxy: 9000, admin: 9000 } } }],
    ['both storages', { endpoints: [openai], storage: { existingClaim: 'x', create: {} } }],
    ['no storage', { endpoints: [openai], storage: {} }],
  ];
  const schema = auditPolicySchema().properties as Record<string, Record<string, unknown>>;
  const specSchema = schema.spec as Record<string, unknown>;

  it('the root rule limits the policy name to a label value', () => {
    const root = auditPolicySchema();
    const long = { ...policy({ endpoints: [openai] }), metadata: { name: 'x'.repeat(64) } };
    expect(celFailures({ 'x-kubernetes-validations': root['x-kubernetes-validations'] }, long)).toEqual(['AuditPolicy names are at most 63 characters: they are used as a label value']);
    expect(celFailures({ 'x-kubernetes-validations': root['x-kubernetes-validations'] }, { ...long, metadata: { name: 'ok' } })).toEqual([]);
    expect(() => parseAuditPolicy(long)).toThrow(/at most 63/);
  });

  it.each(valid.map((s, i) => [i, s] as const))('valid policy %i passes both', (_i, spec) => {
    const p = parseAuditPolicy(policy(spec));
    expect(celFailures(specSchema, p.spec)).toEqual([]);
  });

  it.each(invalid)('%s fails both', (_name, spec) => {
    // Defaults first, as the API server does; then CEL and the TypeScript rules.
    const defaulted = parseDefaultsOnly(spec);
    expect(celFailures(specSchema, defaulted.spec).length, 'CEL').toBeGreaterThan(0);
    expect(crossFieldProblems(defaulted.spec).length, 'TypeScript').toBeGreaterThan(0);
    expect(() => parseAuditPolicy(policy(spec))).toThrow();
  });
});

function parseDefaultsOnly(spec: Record<string, unknown>): AuditPolicy {
  try {
    return parseAuditPolicy(policy(spec));
  } catch (e) {
    if (!isLlmauditError(e, 'LLMAUDIT_E_POLICY_INVALID')) throw e;
    // parseAuditPolicy applied defaults to its own copy; redo them without the rules.
    const copy = structuredClone(policy(spec)) as unknown as AuditPolicy;
    return withSchemaDefaults(copy);
  }
}

function withSchemaDefaults(p: AuditPolicy): AuditPolicy {
  new Ajv({ useDefaults: true, strict: false }).validate(AuditPolicySpec, p.spec);
  return p;
}
