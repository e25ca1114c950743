// Spans name the workload (service.name) and the app container (k8s.container.name); the sidecar
// cannot look them up, so injection passes them as env. Bug this covers: in a cluster every span
// carried the pod name as service.name and no container name.
import { describe, expect, it } from 'vitest';
import type { PodLike } from './pod-types.ts';
import { appContainerName, workloadName } from './workload-identity.ts';

const pod = (metadata: PodLike['metadata'], names = ['app']): PodLike => ({ ...(metadata === undefined ? {} : { metadata }), spec: { containers: names.map((name) => ({ name, image: `img/${name}` })) } });

describe('workloadName', () => {
  it('prefers the app.kubernetes.io/name label, then app', () => {
    expect(workloadName(pod({ labels: { 'app.kubernetes.io/name': 'chat', app: 'x' } }))).toBe('chat');
    expect(workloadName(pod({ labels: { app: 'chat' } }))).toBe('chat');
  });

  it("names a Deployment's pod after the Deployment, not its ReplicaSet", () => {
    const p = pod({ generateName: 'chat-6d8f9c7b5-', labels: { 'pod-template-hash': '6d8f9c7b5' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'chat-6d8f9c7b5', controller: true }] });
    expect(workloadName(p)).toBe('chat');
  });

  it('uses the controlling owner for StatefulSets, DaemonSets and Jobs', () => {
    expect(workloadName(pod({ generateName: 'agent-', ownerReferences: [{ kind: 'DaemonSet', name: 'agent', controller: true }] }))).toBe('agent');
    expect(workloadName(pod({ name: 'db-0', ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] }))).toBe('db');
  });

  it('falls back to generateName, then the pod name, then nothing', () => {
    expect(workloadName(pod({ generateName: 'batch-run-' }))).toBe('batch-run');
    expect(workloadName(pod({ name: 'one-off' }))).toBe('one-off');
    expect(workloadName(pod({}))).toBeNull();
  });
});

describe('appContainerName', () => {
  it('is the first container not moved behind the sidecar', () => {
    expect(appContainerName(pod({}, ['ollama', 'agent']), new Set(['ollama']))).toBe('agent');
    expect(appContainerName(pod({}, ['web', 'worker']), new Set())).toBe('web');
    expect(appContainerName(pod({}, ['ollama']), new Set(['ollama']))).toBeNull();
  });
});
