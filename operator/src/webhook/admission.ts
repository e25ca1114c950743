/**
 * The mutating webhook's decision for one AdmissionReview (admission.k8s.io/v1): inject the
 * sidecar into a Pod being created, or admit it unchanged. Degrade-or-fail is decided here, once
 * (docs/style-guide.md "Errors and configuration"): a webhook must never block pod creation, so every failure — no policy, an invalid
 * policy, a bug — admits the pod unchanged, emits an Event, counts it and warns the client.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
import type { AuditPolicy } from '../api/audit-policy.ts';
import { LABEL_POLICY } from '../api/names.ts';
import { parseAuditPolicy } from '../api/parse-policy.ts';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { operatorError } from '../errors.ts';
import { injectionPatch, isInjected, type ClusterInfo } from '../inject/inject-sidecar.ts';
import type { PodLike } from '../inject/pod-types.ts';

export type InjectionResult = 'injected' | 'already_injected' | 'skipped' | 'no_policy' | 'invalid_policy' | 'error' | 'timeout';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  name?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export interface WebhookEvent {
  namespace: string;
  /** The pod's controller (e.g. its ReplicaSet) when it has one — the pod itself may not exist yet. */
  involvedObject: { apiVersion: string; kind: string; name: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface AdmissionDeps {
  /** The policy for a pod: by name (label llmaudit.dev/policy), or the namespace's default when name is undefined. */
  lookupPolicy: (namespace: string, name?: string) => AuditPolicy | undefined | Promise<AuditPolicy | undefined>;
  cluster: () => ClusterInfo;
  /** Fire-and-forget: admission never waits for it (an Event is advice, the API server may be slow). */
  emitEvent: (event: WebhookEvent) => void | Promise<void>;
  count: (result: InjectionResult) => void;
  log?: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void };
}

/** Parses the review; throws LLMAUDIT_E_ADMISSION_REVIEW_INVALID (the server answers 400). */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: Partial<AdmissionRequest> } | null;
  if (review === null || typeof review !== 'object') throw operatorError('LLMAUDIT_E_ADMISSION_REVIEW_INVALID', 'body is not a JSON object');
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') throw operatorError('LLMAUDIT_E_ADMISSION_REVIEW_INVALID', 'expected apiVersion admission.k8s.io/v1, kind AdmissionReview');
  const req = review.request;
  if (req === undefined || req === null || typeof req !== 'object' || typeof req.uid !== 'string' || req.uid === '') throw operatorError('LLMAUDIT_E_ADMISSION_REVIEW_INVALID', 'request.uid is missing');
  return req as AdmissionRequest;
}

function isPod(v: unknown): v is PodLike {
  const spec = (v as { spec?: { containers?: unknown } } | null)?.spec;
  return spec !== undefined && spec !== null && Array.isArray(spec.containers);
}

function involvedObject(pod: PodLike, namespace: string): WebhookEvent['involvedObject'] {
  const owners = (pod.metadata?.ownerReferences ?? []) as { apiVersion: string; kind: string; name: string; uid?: string; controller?: boolean }[];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (owner !== undefined) return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, ...(owner.uid === undefined ? {} : { uid: owner.uid }) };
  return { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? pod.metadata?.generateName ?? `(unnamed in ${namespace})` };
}

const allow = (uid: string, extra: Partial<AdmissionResponse> = {}): AdmissionReviewOut => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid, allowed: true, ...extra },
});

/**
 * Side work off the admission path: the Event is started and not awaited, and a dry-run request
 * (`kubectl apply --dry-run=server`) has none at all — no Event, no count — which is what
 * `sideEffects: NoneOnDryRun` promises the API server.
 */
function sideWork(req: AdmissionRequest, deps: AdmissionDeps): { emitEvent: (event: WebhookEvent) => void; count: AdmissionDeps['count'] } {
  if (req.dryRun === true) return { emitEvent: () => undefined, count: () => undefined };
  return {
    count: deps.count,
    emitEvent: (event) => {
      try {
        void Promise.resolve(deps.emitEvent(event)).catch((err: unknown) => deps.log?.warn({ err: (err as Error).message }, 'cannot emit event'));
      } catch (err) {
        deps.log?.warn({ err: (err as Error).message }, 'cannot emit event');
      }
    },
  };
}

export async function admit(req: AdmissionRequest, allDeps: AdmissionDeps): Promise<AdmissionReviewOut> {
  const deps = { ...allDeps, ...sideWork(req, allDeps) };
  if (req.kind?.kind !== 'Pod' || (req.kind.group ?? '') !== '' || req.operation !== 'CREATE' || !isPod(req.object)) {
    deps.count('skipped');
    return allow(req.uid);
  }
  const pod = req.object;
  const namespace = req.namespace ?? pod.metadata?.namespace ?? 'default';
  if (isInjected(pod)) {
    deps.count('already_injected');
    return allow(req.uid);
  }
  const policyName = pod.metadata?.labels?.[LABEL_POLICY] ?? pod.metadata?.annotations?.[LABEL_POLICY];
  const refuse = (result: InjectionResult, reason: string, message: string): AdmissionReviewOut => {
    deps.count(result);
    deps.log?.warn({ namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName, policy: policyName, reason }, 'pod admitted without the llmaudit sidecar');
    deps.emitEvent({ namespace, involvedObject: involvedObject(pod, namespace), type: 'Warning', reason, message });
    return allow(req.uid, { warnings: [`llmaudit: ${message}`] });
  };
  try {
    const raw = await deps.lookupPolicy(namespace, policyName);
    if (raw === undefined) {
      return refuse('no_policy', 'AuditPolicyNotFound', policyName === undefined ? `no AuditPolicy in namespace ${namespace}; the pod runs without the audit sidecar` : `AuditPolicy ${namespace}/${policyName} not found; the pod runs without the audit sidecar`);
    }
    let policy: AuditPolicy;
    try {
      policy = parseAuditPolicy(raw);
    } catch (err) {
      return refuse('invalid_policy', 'AuditPolicyInvalid', `AuditPolicy ${namespace}/${raw.metadata.name ?? ''} is invalid (${(err as Error).message}); the pod runs without the audit sidecar`);
    }
    const { patch } = injectionPatch(pod, policy, deps.cluster());
    deps.count('injected');
    deps.log?.info({ namespace, pod: pod.metadata?.name ?? pod.metadata?.generateName, policy: policy.metadata.name, ops: patch.length }, 'sidecar injected');
    return allow(req.uid, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (err) {
    const code = isLlmauditError(err) ? err.code : 'LLMAUDIT_E_INJECT_FAILED';
    return refuse('error', 'InjectionFailed', `sidecar injection failed (${code}: ${(err as Error).message}); the pod runs without the audit sidecar`);
  }
}

/**
 * admit() bounded in time: a decision not made within `budgetMs` admits the pod unchanged, with a
 * warning and result `timeout` — an answer well inside the API server's timeoutSeconds, rather than
 * a timed-out call the API server reports as a webhook failure.
 */
export async function admitWithinBudget(req: AdmissionRequest, deps: AdmissionDeps, budgetMs: number): Promise<AdmissionReviewOut> {
  let answered = false;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<AdmissionReviewOut>((resolve) => {
    timer = setTimeout(() => {
      deps.log?.warn({ namespace: req.namespace, budgetMs }, 'admission decision over budget; pod admitted without the llmaudit sidecar');
      if (req.dryRun !== true) deps.count('timeout');
      resolve(allow(req.uid, { warnings: [`llmaudit: no injection decision within ${budgetMs} ms; the pod runs without the audit sidecar`] }));
    }, budgetMs);
  });
  // A decision that lands after the answer went out must not be counted too.
  const count = (r: InjectionResult): void => {
    if (!answered) deps.count(r);
  };
  try {
    return await Promise.race([admit(req, { ...deps, count }), late]);
  } finally {
    answered = true;
    clearTimeout(timer);
  }
}
