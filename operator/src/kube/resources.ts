import type { ResourceName } from './types.ts';

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  /** Has a status subresource: writes to the main resource leave status alone and vice versa. */
  statusSubresource: boolean;
}

/** REST coordinates of every resource the operator uses (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris). */
export const RESOURCES: Readonly<Record<ResourceName, ResourceInfo>> = {
  auditpolicies: { group: 'llmaudit.dev', version: 'v1alpha1', kind: 'AuditPolicy', namespaced: true, statusSubresource: true },
  configmaps: { group: '', version: 'v1', kind: 'ConfigMap', namespaced: true, statusSubresource: false },
  secrets: { group: '', version: 'v1', kind: 'Secret', namespaced: true, statusSubresource: false },
  persistentvolumeclaims: { group: '', version: 'v1', kind: 'PersistentVolumeClaim', namespaced: true, statusSubresource: true },
  pods: { group: '', version: 'v1', kind: 'Pod', namespaced: true, statusSubresource: true },
  deployments: { group: 'apps', version: 'v1', kind: 'Deployment', namespaced: true, statusSubresource: true },
  statefulsets: { group: 'apps', version: 'v1', kind: 'StatefulSet', namespaced: true, statusSubresource: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', namespaced: true, statusSubresource: false },
  mutatingwebhookconfigurations: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', namespaced: false, statusSubresource: false },
  events: { group: '', version: 'v1', kind: 'Event', namespaced: true, statusSubresource: false },
};

export function apiVersionOf(resource: ResourceName): string {
  const r = RESOURCES[resource];
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** /api/v1/namespaces/ns/pods/name or /apis/apps/v1/deployments (all namespaces). */
export function resourcePath(resource: ResourceName, namespace: string | undefined, name?: string, subresource?: string): string {
  const r = RESOURCES[resource];
  let p = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  if (r.namespaced && namespace !== undefined && namespace !== '') p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${resource}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}
