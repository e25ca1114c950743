import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/types.ts';
import { podCacheShape, workloadCacheShape } from './cache-shapes.ts';

const managedFields = [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }];

describe('cache shapes', () => {
  it('a workload keeps its identity and our annotations only', () => {
    const full = {
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: {
        name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', generation: 3, labels: { app: 'web' }, managedFields,
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', 'llmaudit.dev/inject': 'true', 'llmaudit.dev/template-managed': 'true' },
      },
    } as unknown as KubeObject;
    expect(workloadCacheShape('Deployment', full)).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', annotations: { 'llmaudit.dev/inject': 'true', 'llmaudit.dev/template-managed': 'true' } },
    });
    expect(workloadCacheShape('StatefulSet', { metadata: { name: 'db', namespace: 'shop', annotations: { other: 'x' } } }).metadata).toEqual({ name: 'db', namespace: 'shop' });
  });

  it('a pod keeps what the counter and the remedy read: our labels and annotations, pod-template-hash, its controller, phase', () => {
    const full = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-5d8c7b9f4-x2x9q', namespace: 'shop', uid: 'p1', resourceVersion: '9', deletionTimestamp: '2026-12-07T00:00:00Z', managedFields,
        labels: { app: 'web', 'pod-template-hash': '5d8c7b9f4', 'llmaudit.dev/inject': 'true' },
        annotations: { 'llmaudit.dev/injected': 'default', 'kubectl.kubernetes.io/restartedAt': 'now' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8c7b9f4', uid: 'rs', controller: true, blockOwnerDeletion: true }],
      },
      spec: { containers: [{ name: 'app', image: 'app:1' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    } as unknown as KubeObject;
    expect(podCacheShape(full)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-5d8c7b9f4-x2x9q', namespace: 'shop', uid: 'p1', resourceVersion: '9', deletionTimestamp: '2026-12-07T00:00:00Z',
        labels: { 'pod-template-hash': '5d8c7b9f4', 'llmaudit.dev/inject': 'true' },
        annotations: { 'llmaudit.dev/injected': 'default' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8c7b9f4', uid: 'rs', controller: true }],
      },
      status: { phase: 'Running' },
    });
  });
});
