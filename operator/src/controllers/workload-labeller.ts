import { LABEL_INJECT, LABEL_POLICY } from '../api/names.ts';
import type { KubeObject } from '../kube/types.ts';

/**
 * On the workload's own metadata: "the operator put the inject label on this template", so that
 * removing the opt-in annotation removes only what we added (never a label the user wrote into
 * the template), and without touching the template (which would roll the pods once more).
 */
export const ANNOTATION_TEMPLATE_MANAGED = 'llmaudit.dev/template-managed';

interface TemplateMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * The JSON merge patch (RFC 7386) that makes a Deployment's or StatefulSet's pod template follow
 * its `llmaudit.dev/inject` / `llmaudit.dev/policy` annotations, or undefined when it already
 * does. Admission webhooks only see pods and objectSelector matches labels only, so the opt-in
 * has to become a pod-template label; changing the template is a rollout, which is what injects
 * the sidecar into the running workload (and removes it again on opt-out).
 */
export function workloadPatch(workload: KubeObject): Record<string, unknown> | undefined {
  const ann = workload.metadata.annotations ?? {};
  const tmpl = ((workload.spec as { template?: { metadata?: TemplateMeta } } | undefined)?.template?.metadata ?? {}) as TemplateMeta;
  const labels = tmpl.labels ?? {};
  const tAnn = tmpl.annotations ?? {};
  const managed = ann[ANNOTATION_TEMPLATE_MANAGED] === 'true';
  const optedIn = ann[LABEL_INJECT] === 'true';
  const policy = ann[LABEL_POLICY];

  const labelPatch: Record<string, string | null> = {};
  const annPatch: Record<string, string | null> = {};
  const metaPatch: Record<string, string | null> = {};
  if (optedIn) {
    if (labels[LABEL_INJECT] !== 'true') labelPatch[LABEL_INJECT] = 'true';
    if (policy !== undefined && policy !== '') {
      if (tAnn[LABEL_POLICY] !== policy) annPatch[LABEL_POLICY] = policy;
    } else if (managed && tAnn[LABEL_POLICY] !== undefined) {
      annPatch[LABEL_POLICY] = null;
    }
    // Only claim the template when we changed it (or already own it): a user-set label stays theirs.
    if (!managed && Object.keys(labelPatch).length + Object.keys(annPatch).length > 0) metaPatch[ANNOTATION_TEMPLATE_MANAGED] = 'true';
  } else if (managed) {
    if (labels[LABEL_INJECT] !== undefined) labelPatch[LABEL_INJECT] = null;
    if (tAnn[LABEL_POLICY] !== undefined) annPatch[LABEL_POLICY] = null;
    metaPatch[ANNOTATION_TEMPLATE_MANAGED] = null;
  }
  const templateMeta: Record<string, unknown> = {};
  if (Object.keys(labelPatch).length > 0) templateMeta.labels = labelPatch;
  if (Object.keys(annPatch).length > 0) templateMeta.annotations = annPatch;
  const patch: Record<string, unknown> = {};
  if (Object.keys(metaPatch).length > 0) patch.metadata = { annotations: metaPatch };
  if (Object.keys(templateMeta).length > 0) patch.spec = { template: { metadata: templateMeta } };
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/**
 * Whether workloadPatch could return a patch for this workload, judged from its metadata alone:
 * only an opted-in or operator-managed workload can need one. The others are never fetched whole.
 */
export function mayNeedPatch(meta: KubeObject['metadata']): boolean {
  const ann = meta.annotations ?? {};
  return ann[LABEL_INJECT] === 'true' || ann[ANNOTATION_TEMPLATE_MANAGED] === 'true';
}

/**
 * The policy a workload opts in to, from its metadata (what the metadata-only cache holds): its
 * `llmaudit.dev/policy` annotation, or '' for "the namespace's default"; undefined when it does not
 * opt in. The labeller makes the template follow these annotations.
 */
export function optInOf(meta: KubeObject['metadata']): string | undefined {
  const ann = meta.annotations ?? {};
  if (ann[LABEL_INJECT] !== 'true') return undefined;
  return ann[LABEL_POLICY] ?? '';
}

/** The policy a workload's pods resolve to, by their template. */
export function templateMeta(workload: KubeObject): TemplateMeta {
  return ((workload.spec as { template?: { metadata?: TemplateMeta } } | undefined)?.template?.metadata ?? {}) as TemplateMeta;
}
