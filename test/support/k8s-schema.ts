// Validates Kubernetes objects offline against the API's JSON schemas, as shipped (generated
// from the Kubernetes OpenAPI spec) by the kubernetes-models package (ADR 0008).
import * as admissionregistrationV1 from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as apiextensionsV1 from 'kubernetes-models/apiextensions.k8s.io/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import type { K8sObject } from './helm.ts';

type ModelClass = new (data: unknown) => { validate(): void };

const groups: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'policy/v1': policyV1,
  'rbac.authorization.k8s.io/v1': rbacV1,
  'admissionregistration.k8s.io/v1': admissionregistrationV1,
  'apiextensions.k8s.io/v1': apiextensionsV1,
};

/** Kinds outside the core API whose schema is not ours to check here (validated by their own CRDs in a cluster). */
const external = new Set(['cert-manager.io/v1/Issuer', 'cert-manager.io/v1/Certificate', 'llmaudit.dev/v1alpha1/AuditPolicy']);

/** Returns the schema problems of one object (empty when valid). */
export function validateK8sObject(obj: K8sObject): string[] {
  if (external.has(`${obj.apiVersion}/${obj.kind}`)) {
    return obj.metadata?.name ? [] : ['metadata.name is required'];
  }
  const cls = groups[obj.apiVersion]?.[obj.kind] as ModelClass | undefined;
  if (cls === undefined) return [`no schema known for ${obj.apiVersion} ${obj.kind}`];
  try {
    new cls(obj).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: Array<{ instancePath?: string; message?: string }> }).errors;
    if (details !== undefined) return details.map((e) => `${e.instancePath ?? ''} ${e.message ?? ''}`.trim());
    return [String(err)];
  }
}
