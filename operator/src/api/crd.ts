/**
 * The AuditPolicy CustomResourceDefinition, built from the TypeBox schemas in audit-policy.ts.
 * hack/gen-crds.ts writes it to charts/llmaudit/crds/; `make crds-check` fails on drift.
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
 */
import { stringify } from 'yaml';
import { AuditPolicySpec, AuditPolicyStatus, GROUP, KIND, PLURAL, VERSION } from './audit-policy.ts';

export type JsonSchema = { [key: string]: unknown };

export const PRINTER_COLUMNS = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Config, signing key and storage are in place.' },
  { name: 'Pods', type: 'integer', jsonPath: '.status.podsInjected', description: 'Pods running the sidecar.' },
  { name: 'Missing', type: 'integer', jsonPath: '.status.podsMissing', description: 'Labelled pods without the sidecar.' },
  { name: 'Chains', type: 'integer', jsonPath: '.status.chains', description: 'Logs the witness holds a checkpoint of.' },
  { name: 'Entries', type: 'integer', jsonPath: '.status.entries', description: 'Entries over all chains, from their witnessed checkpoints.' },
  { name: 'Verified', type: 'string', jsonPath: '.status.conditions[?(@.type=="Verified")].status', description: 'Every witnessed chain is consistent (False: the witness refused a checkpoint).' },
  { name: 'Last Checkpoint', type: 'date', jsonPath: '.status.lastCheckpointTime', description: 'Newest witnessed checkpoint.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
] as const;

/**
 * TypeBox JSON Schema → Kubernetes OpenAPI v3 schema: drops what a CRD schema rejects or ignores
 * (boolean additionalProperties; Kubernetes prunes unknown fields instead) and refuses what it
 * cannot express, so a new TypeBox construct fails the generator rather than the API server.
 */
export function toKubeSchema(schema: unknown): JsonSchema {
  const walk = (node: unknown, path: string): unknown => {
    if (Array.isArray(node)) return node.map((n, i) => walk(n, `${path}/${i}`));
    if (node === null || typeof node !== 'object') return node;
    const out: JsonSchema = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'additionalProperties' && typeof v === 'boolean') continue;
      if (k === '$id' || k === '$schema') continue;
      if (k === 'const' || k === 'patternProperties' || k === '$ref' || k === 'oneOf' || k === 'allOf') {
        throw new Error(`${path}: ${k} cannot be expressed in a CRD structural schema`);
      }
      // Inside default/enum/x-kubernetes-validations values are data, not schemas.
      out[k] = k === 'default' || k === 'enum' || k.startsWith('x-kubernetes-') ? structuredClone(v) : walk(v, `${path}/${k}`);
    }
    // The API server drops an empty properties map; kept, kubectl apply would find a difference
    // on every run (and GitOps tools would show the CRD out of sync).
    if (out.properties !== null && typeof out.properties === 'object' && Object.keys(out.properties).length === 0) delete out.properties;
    // A field with a default is never missing after defaulting (which runs before validation);
    // listing it as required would only make `kubectl explain` call it -required-.
    if (Array.isArray(out.required) && out.properties !== null && typeof out.properties === 'object') {
      const props = out.properties as Record<string, JsonSchema>;
      const required = (out.required as string[]).filter((name) => props[name]?.default === undefined);
      if (required.length > 0) out.required = required;
      else delete out.required;
    }
    return out;
  };
  // JSON round trip drops TypeBox's symbol-keyed metadata.
  return walk(JSON.parse(JSON.stringify(schema)), '') as JsonSchema;
}

export function auditPolicySchema(): JsonSchema {
  return {
    type: 'object',
    description: 'AuditPolicy says which LLM traffic the llmaudit sidecar records for the workloads that opt in (annotation llmaudit.dev/inject=true), and how.',
    required: ['spec'],
    // The name becomes the llmaudit.dev/policy label value on pods (at most 63 characters) and
    // part of the names of the objects the operator creates.
    'x-kubernetes-validations': [{ rule: 'self.metadata.name.size() <= 63', message: 'AuditPolicy names are at most 63 characters: they are used as a label value', fieldPath: '.metadata.name' }],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      // Declared so the rule above can point at metadata.name (a fieldPath must name a schema field).
      metadata: { type: 'object', properties: { name: { type: 'string', description: 'Name of the AuditPolicy; at most 63 characters.' } } },
      spec: toKubeSchema(AuditPolicySpec),
      status: toKubeSchema(AuditPolicyStatus),
    },
  };
}

export function auditPolicyCrd(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'llmaudit', 'app.kubernetes.io/part-of': 'llmaudit' },
    },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'auditpolicy', shortNames: ['ap'], categories: ['llmaudit'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: auditPolicySchema() },
        },
      ],
    },
  };
}

export const CRD_HEADER = '# Generated by hack/gen-crds.ts from operator/src/api/audit-policy.ts. DO NOT EDIT: run `make crds`.\n';

export function auditPolicyCrdYaml(): string {
  // YAML 1.1 scalars: kubectl and helm read YAML 1.1, where an unquoted off, on, yes or no is a boolean.
  return CRD_HEADER + stringify(auditPolicyCrd(), { lineWidth: 0, version: '1.1' });
}
