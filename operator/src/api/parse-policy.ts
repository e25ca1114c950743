/**
 * Validates an AuditPolicy object the way the API server would: the schema with defaults, then
 * the same cross-field rules the CRD states in CEL (audit-policy.ts), so `inject --policy p.yaml`
 * and the webhook reject what `kubectl apply` would. crd.test.ts checks that the two agree.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { API_VERSION, AuditPolicySpec, DEFAULT_TAKEOVER_BACKEND_PORT, KIND, type AuditPolicy } from './audit-policy.ts';
import { operatorError } from '../errors.ts';

let compiled: ReturnType<Ajv['compile']> | undefined;
function validator(): ReturnType<Ajv['compile']> {
  // Compiled on first use, not at import time (docs/style-guide.md).
  compiled ??= new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(AuditPolicySpec);
  return compiled;
}

function describe(e: ErrorObject): string {
  return `/spec${e.instancePath}: ${e.message ?? e.keyword}`;
}

/** The cross-field rules of the CRD's x-kubernetes-validations, in TypeScript. */
export function crossFieldProblems(spec: AuditPolicySpec): string[] {
  const problems: string[] = [];
  const envs = new Map<string, string>();
  const takeovers = new Map<number, string>();
  const prefixes = new Map<string, string>();
  const names = new Set<string>();
  spec.endpoints.forEach((e, i) => {
    const at = `/spec/endpoints/${i}`;
    if (names.has(e.name)) problems.push(`${at}/name: duplicate endpoint ${e.name}`);
    names.add(e.name);
    if (e.takeOverPort !== undefined && e.api !== 'ollama') problems.push(`${at}/takeOverPort: takeOverPort is only for api: ollama`);
    if (e.upstream === undefined && e.takeOverPort === undefined) problems.push(`${at}/upstream: upstream is required unless takeOverPort is set`);
    if ((e.takeOverBackendPort !== undefined || e.takeOverContainer !== undefined) && e.takeOverPort === undefined) problems.push(`${at}: takeOverBackendPort and takeOverContainer need takeOverPort`);
    if (e.takeOverPort !== undefined && e.takeOverPort === (e.takeOverBackendPort ?? DEFAULT_TAKEOVER_BACKEND_PORT)) problems.push(`${at}/takeOverBackendPort: takeOverPort and takeOverBackendPort must differ`);
    if (e.env !== undefined && e.env !== '') {
      if (envs.has(e.env)) problems.push(`${at}/env: env names must be unique across endpoints`);
      envs.set(e.env, e.name);
    }
    if (e.takeOverPort !== undefined) {
      if (takeovers.has(e.takeOverPort)) problems.push(`${at}/takeOverPort: a port can be taken over by one endpoint only`);
      takeovers.set(e.takeOverPort, e.name);
    }
    const prefix = e.pathPrefix ?? `/${e.name}`;
    if (prefixes.has(prefix)) problems.push(`${at}/pathPrefix: path prefixes must be unique across endpoints`);
    prefixes.set(prefix, e.name);
    for (const p of [e.port, e.takeOverPort, e.takeOverBackendPort]) {
      if (p !== undefined && (p === spec.sidecar.ports.proxy || p === spec.sidecar.ports.admin)) {
        problems.push(`${at}: endpoint ports must differ from sidecar.ports.proxy and sidecar.ports.admin`);
        break;
      }
    }
  });
  if (spec.sidecar.ports.proxy === spec.sidecar.ports.admin) problems.push('/spec/sidecar/ports: proxy and admin ports must differ');
  if ((spec.storage.existingClaim === undefined) === (spec.storage.create === undefined)) problems.push('/spec/storage: set exactly one of existingClaim or create');
  return problems;
}

/**
 * Returns a defaulted, validated copy of an AuditPolicy, or throws LLMAUDIT_E_POLICY_INVALID
 * listing every problem with its path.
 */
export function parseAuditPolicy(raw: unknown): AuditPolicy {
  const problems: string[] = [];
  if (raw === null || typeof raw !== 'object') throw operatorError('LLMAUDIT_E_POLICY_INVALID', 'not an object');
  const obj = structuredClone(raw) as Record<string, unknown>;
  if (obj.apiVersion !== API_VERSION || obj.kind !== KIND) problems.push(`/: expected apiVersion ${API_VERSION}, kind ${KIND}`);
  const meta = obj.metadata as { name?: unknown } | undefined;
  if (meta === undefined || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') problems.push('/metadata/name: required');
  else if (meta.name.length > 63) problems.push('/metadata/name: AuditPolicy names are at most 63 characters: they are used as a label value');
  const check = validator();
  if (!check(obj.spec)) {
    for (const e of check.errors ?? []) problems.push(describe(e));
  } else {
    problems.push(...crossFieldProblems(obj.spec as AuditPolicySpec));
  }
  if (problems.length > 0) throw operatorError('LLMAUDIT_E_POLICY_INVALID', problems.join('; '), { details: { problems } });
  return obj as unknown as AuditPolicy;
}
