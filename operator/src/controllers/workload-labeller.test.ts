import { describe, expect, it } from 'vitest';
import { LABEL_INJECT, LABEL_POLICY } from '../api/names.ts';
import { applyMergePatch } from '../kube/merge-patch.ts';
import type { KubeObject } from '../kube/types.ts';
import { deployment } from '../testing/fixtures.ts';
import { ANNOTATION_TEMPLATE_MANAGED, workloadPatch } from './workload-labeller.ts';

const apply = (w: KubeObject): KubeObject => {
  const p = workloadPatch(w);
  return p === undefined ? w : (applyMergePatch(w, p) as KubeObject);
};

describe('workloadPatch', () => {
  it('opt-in adds the template label (and policy annotation); applying twice equals once', () => {
    const w = deployment('web', 'apps', { [LABEL_INJECT]: 'true', [LABEL_POLICY]: 'chat' });
    const once = apply(w);
    expect(workloadPatch(once)).toBeUndefined();
    expect(once.spec).toMatchObject({ template: { metadata: { labels: { app: 'web', [LABEL_INJECT]: 'true' }, annotations: { [LABEL_POLICY]: 'chat' } } } });
  });

  it('opt-out removes exactly what the operator added', () => {
    const on = apply(deployment('web', 'apps', { [LABEL_INJECT]: 'true', [LABEL_POLICY]: 'chat' }));
    const off = apply({ ...on, metadata: { ...on.metadata, annotations: { [ANNOTATION_TEMPLATE_MANAGED]: 'true' } } });
    expect(off.spec).toMatchObject({ template: { metadata: { labels: { app: 'web' }, annotations: {} } } });
    expect(off.metadata.annotations).toEqual({});
    expect(workloadPatch(off)).toBeUndefined();
  });

  it('dropping only the policy annotation drops the template policy', () => {
    const on = apply(deployment('web', 'apps', { [LABEL_INJECT]: 'true', [LABEL_POLICY]: 'chat' }));
    const next = apply({ ...on, metadata: { ...on.metadata, annotations: { [LABEL_INJECT]: 'true', [ANNOTATION_TEMPLATE_MANAGED]: 'true' } } });
    expect(next.spec).toMatchObject({ template: { metadata: { labels: { [LABEL_INJECT]: 'true' }, annotations: {} } } });
  });

  it('does nothing for workloads that never opted in, or whose template the user labelled', () => {
    expect(workloadPatch(deployment('web', 'apps'))).toBeUndefined();
    expect(workloadPatch(deployment('web', 'apps', {}, { [LABEL_INJECT]: 'true' }))).toBeUndefined();
    expect(workloadPatch(deployment('web', 'apps', { [LABEL_INJECT]: 'false' }))).toBeUndefined();
  });
});
