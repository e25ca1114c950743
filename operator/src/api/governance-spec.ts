/**
 * spec.governance of the AuditPolicy: the sidecar's own governance schema
 * (sidecar/src/governance/schema.ts, docs/governance.md), turned into a shape a Kubernetes
 * structural schema can hold, so the CRD, `kubectl explain` and the sidecar agree on every key.
 * A union of string literals becomes a string enum (with maxLength, for CEL cost estimates);
 * a record becomes an object with additionalProperties. The operator passes the section to the
 * sidecar config whole.
 */
import { Type, type TUnsafe } from '@sinclair/typebox';
import { SidecarConfigSchema, type SidecarConfig } from '@llmaudit/sidecar/config';

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

function convert(node: Node, path: string): Node {
  const any = node['anyOf'];
  if (Array.isArray(any) && any.every((b) => isNode(b) && typeof b['const'] === 'string')) {
    const values = any.map((b) => (b as Node)['const'] as string);
    const out: Node = { type: 'string', enum: values, maxLength: Math.max(...values.map((v) => v.length)) };
    for (const k of ['description', 'default']) if (node[k] !== undefined) out[k] = node[k];
    return out;
  }
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'patternProperties' && isNode(v)) {
      const [value] = Object.values(v);
      out['additionalProperties'] = convert(value as Node, `${path}/*`);
      continue;
    }
    if (k === 'properties' && isNode(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, child]) => [name, convert(child as Node, `${path}/${name}`)]));
      continue;
    }
    if (k === 'items' && isNode(v)) {
      out[k] = convert(v, `${path}[]`);
      continue;
    }
    out[k] = v;
  }
  if (out['description'] === undefined) throw new Error(`sidecar governance schema: ${path || '/'} has no description`);
  return out;
}

type SidecarGovernance = SidecarConfig['governance'];
type SidecarRedis = NonNullable<SidecarGovernance['rateLimits']['redis']>;

/** spec.governance: the sidecar's section, with the Redis password from a Secret instead of a file. */
export type GovernanceSpec = Omit<SidecarGovernance, 'rateLimits'> & {
  rateLimits: Omit<SidecarGovernance['rateLimits'], 'redis'> & { redis?: SidecarRedis & { passwordSecretRef?: { name: string; key: string } } };
};

/** AuditPolicy only: the operator mounts this Secret key in the sidecar and points passwordFile at it. */
const PASSWORD_SECRET_REF: Node = {
  type: 'object',
  description: 'Secret holding the Redis password, in the policy\'s namespace: mounted into the sidecar, which reads it as passwordFile.',
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', description: 'Secret name.' },
    key: { type: 'string', maxLength: 253, default: 'password', description: 'Key in the Secret.' },
  },
};

/** The CRD schema of spec.governance, from the sidecar's (JSON round trip: no TypeBox symbols). */
export function governanceSpecSchema(): TUnsafe<GovernanceSpec> {
  const src = JSON.parse(JSON.stringify(SidecarConfigSchema.properties.governance)) as Node;
  const out = convert(src, '');
  const redis = ((out['properties'] as Node)['rateLimits'] as { properties: Node }).properties['redis'] as { properties: Node };
  redis.properties['passwordSecretRef'] = PASSWORD_SECRET_REF;
  return Type.Unsafe<GovernanceSpec>(out);
}
