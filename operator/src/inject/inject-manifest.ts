/**
 * Offline injection for GitOps (`llmaudit-operator inject`, like `linkerd inject`): every Pod and
 * every workload pod template in a multi-document YAML gets the same change the webhook would
 * make; other documents pass through. The change is applied to the parsed YAML document as the
 * JSON Patch injection computes, so comments and formatting outside the changed nodes survive
 * (as far as the `yaml` library keeps them).
 */
import { isMap, isSeq, parseAllDocuments, type Document } from 'yaml';
import { LABEL_INJECT, LABEL_POLICY } from '../api/names.ts';
import { parseAuditPolicy } from '../api/parse-policy.ts';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { operatorError } from '../errors.ts';
import { injectionPatch, type ClusterInfo } from './inject-sidecar.ts';
import { diffJson, type JsonPatchOp } from './json-patch.ts';
import type { PodLike } from './pod-types.ts';

/** Where each kind keeps its pod template (null: the document is the pod). */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[] | null>> = {
  Pod: null,
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface InjectManifestResult {
  text: string;
  /** `Kind/name` of each document that was injected. */
  injected: string[];
  /** `Kind/name` of each workload left alone, with why. */
  skipped: string[];
}

function unescapeToken(t: string): string {
  return t.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Applies RFC 6902 add/replace/remove to a yaml Document, touching only the nodes on each path. */
export function applyPatchToDocument(doc: Document, base: readonly (string | number)[], ops: readonly JsonPatchOp[]): void {
  for (const op of ops) {
    const tokens = op.path.split('/').slice(1).map(unescapeToken);
    const parentPath: (string | number)[] = [...base];
    let node: unknown = base.length === 0 ? doc.contents : doc.getIn(base, true);
    for (const t of tokens.slice(0, -1)) {
      const key = isSeq(node) ? Number(t) : t;
      parentPath.push(key);
      node = isSeq(node) || isMap(node) ? node.get(key, true) : undefined;
    }
    const last = tokens.at(-1) as string;
    if (isSeq(node)) {
      if (op.op === 'add') {
        const value = doc.createNode(op.value);
        if (last === '-') node.items.push(value);
        else node.items.splice(Number(last), 0, value);
      } else if (op.op === 'replace') node.set(Number(last), doc.createNode(op.value));
      else node.delete(Number(last));
    } else if (isMap(node)) {
      if (op.op === 'remove') node.delete(last);
      else node.set(last, doc.createNode(op.value));
    } else {
      throw operatorError('LLMAUDIT_E_INJECT_FAILED', `cannot apply ${op.op} at ${[...parentPath, last].join('.')}`);
    }
  }
}

export interface InjectManifestOptions {
  /** AuditPolicies to choose from (from --policy and from the manifest itself). */
  policies: AuditPolicy[];
  cluster: ClusterInfo;
}

function pickPolicy(policies: AuditPolicy[], name: string | undefined, what: string): AuditPolicy {
  if (name !== undefined) {
    const p = policies.find((x) => x.metadata.name === name);
    if (p === undefined) throw operatorError('LLMAUDIT_E_POLICY_NOT_FOUND', `${what} asks for AuditPolicy ${name}, which is not in --policy or the manifest`);
    return p;
  }
  if (policies.length === 1) return policies[0] as AuditPolicy;
  if (policies.length === 0) throw operatorError('LLMAUDIT_E_POLICY_NOT_FOUND', `${what}: give the AuditPolicy with --policy FILE`);
  throw operatorError('LLMAUDIT_E_POLICY_NOT_FOUND', `${what}: several AuditPolicies; pick one with the llmaudit.dev/policy label or annotation`);
}

/** Policies found in a YAML text (documents of kind AuditPolicy), validated. */
export function policiesIn(text: string): AuditPolicy[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw operatorError('LLMAUDIT_E_MANIFEST_INVALID', 'not a YAML stream');
  return docs
    .map((d) => {
      if (d.errors.length > 0) throw operatorError('LLMAUDIT_E_MANIFEST_INVALID', d.errors.map((e) => e.message).join('; '));
      return d.toJS() as unknown;
    })
    .filter((o): o is { kind: string } => o !== null && typeof o === 'object' && (o as { kind?: unknown }).kind === 'AuditPolicy')
    .map((o) => parseAuditPolicy(o));
}

export function injectManifest(text: string, opts: InjectManifestOptions): InjectManifestResult {
  const docs = parseAllDocuments(text, { keepSourceTokens: false });
  if (!Array.isArray(docs)) throw operatorError('LLMAUDIT_E_MANIFEST_INVALID', 'not a YAML stream');
  const policies = [...opts.policies];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw operatorError('LLMAUDIT_E_MANIFEST_INVALID', doc.errors.map((e) => e.message).join('; '));
    const js = doc.toJS() as { kind?: unknown } | null;
    if (js?.kind === 'AuditPolicy' && !policies.some((p) => p.metadata.name === (js as AuditPolicy).metadata?.name)) policies.push(parseAuditPolicy(js));
  }
  const injected: string[] = [];
  const skipped: string[] = [];
  for (const doc of docs) {
    const obj = doc.toJS() as { kind?: unknown; metadata?: { name?: string; annotations?: Record<string, string> } } | null;
    if (obj === null || typeof obj !== 'object' || typeof obj.kind !== 'string' || !(obj.kind in TEMPLATE_PATHS)) continue;
    const what = `${obj.kind}/${obj.metadata?.name ?? '(unnamed)'}`;
    const path = TEMPLATE_PATHS[obj.kind] ?? [];
    const plain = path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj) as PodLike | undefined;
    if (plain?.spec === undefined || !Array.isArray(plain.spec.containers)) {
      skipped.push(`${what}: no pod spec`);
      continue;
    }
    const name = plain.metadata?.labels?.[LABEL_POLICY] ?? plain.metadata?.annotations?.[LABEL_POLICY] ?? obj.metadata?.annotations?.[LABEL_POLICY];
    const policy = pickPolicy(policies, name, what);
    const { pod, patch } = injectionPatch(plain, policy, opts.cluster);
    if (patch.length === 0) {
      skipped.push(`${what}: already injected`);
      continue;
    }
    // The labels the controllers count pods by (the webhook skips the pod: it is already injected).
    const labelled = structuredClone(pod);
    labelled.metadata = { ...(labelled.metadata ?? {}), labels: { ...(labelled.metadata?.labels ?? {}), [LABEL_INJECT]: 'true', [LABEL_POLICY]: policy.metadata.name ?? '' } };
    applyPatchToDocument(doc, path, diffJson(plain, labelled));
    injected.push(what);
  }
  const out = docs.map((d, i) => {
    const s = d.toString({ lineWidth: 0 });
    return i === 0 || s.startsWith('---') ? s : `---\n${s}`;
  });
  return { text: out.join(''), injected, skipped };
}
