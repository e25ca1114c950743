import { parseAuditPolicy } from '../api/parse-policy.ts';
import type { AuditPolicy } from '../api/audit-policy.ts';
import type { KubeObject } from '../kube/types.ts';

/** A defaulted AuditPolicy as the API server would store it (test helper). */
export function testPolicy(name: string, namespace: string, spec: Record<string, unknown> = {}): AuditPolicy {
  return parseAuditPolicy({
    apiVersion: 'llmaudit.dev/v1alpha1',
    kind: 'AuditPolicy',
    metadata: { name, namespace },
    spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }], ...spec },
  });
}

export function asObject(p: AuditPolicy): KubeObject {
  return p as unknown as KubeObject;
}

export function pod(name: string, namespace: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: extra.labels ?? {}, annotations: extra.annotations ?? {} },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
  };
}

export function deployment(name: string, namespace: string, annotations: Record<string, string> = {}, templateLabels: Record<string, string> = { app: name }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: templateLabels }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  };
}
