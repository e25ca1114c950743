/**
 * Where the proxy meets governance: the facts of a request as the exchange sees them, the
 * admission, and what the exchange does with it (the refusal it answers, the body it forwards,
 * the entry's record, the metrics). Kept here so that the proxy's lifecycle files only call in.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import { DEFAULT_MAX_LABEL_VALUES, LabelCap } from '../proxy/metrics.ts';
import { FastCounter } from '../proxy/fast-metrics.ts';
import type { ApiKind, NormalizedExchange } from '../adapters/types.ts';
import { detectApi } from '../adapters/detect.ts';
import type { SidecarConfig, EndpointConfig } from '../config/schema.ts';
import type { Admission, Governance } from './engine.ts';
import type { Block, GovernanceRecord } from './decide.ts';
import { replaceAtPointers } from './redact.ts';

export interface GovernanceMetrics {
  /** labels: decision, reason (the first reason, or none). */
  readonly decisions: Counter<'decision' | 'reason'>;
  /** Text fields with a match. labels: detector, action. */
  readonly detections: Counter<'detector' | 'action'>;
  /** USD by model and endpoint, from the price table. */
  readonly cost: Counter<'model' | 'endpoint'>;
  /** Calls to the shared rate-limit store (Redis) that failed or timed out. */
  readonly storeFailures: Counter;
}

export function createGovernanceMetrics(registry: Registry): GovernanceMetrics {
  const registers = [registry];
  // The model comes from the client's request: its first 100 names are kept, the rest count as other.
  const models = new LabelCap(DEFAULT_MAX_LABEL_VALUES);
  const cost = new FastCounter({ name: 'llmaudit_cost_usd_total', help: 'Cost of exchanges in USD from the price table, by model and endpoint.', labelNames: ['model', 'endpoint'], registers });
  const inc = cost.inc.bind(cost) as (labels: { model: string; endpoint: string }, value: number) => void;
  cost.inc = ((labels: { model: string; endpoint: string }, value: number) => inc({ ...labels, model: models.fold(labels.model) }, value)) as typeof cost.inc;
  return {
    decisions: new FastCounter({ name: 'llmaudit_governance_decisions_total', help: 'Governance decisions, by decision and first reason.', labelNames: ['decision', 'reason'], registers }),
    detections: new FastCounter({ name: 'llmaudit_governance_detections_total', help: 'Text fields in which a detector matched, by detector and action.', labelNames: ['detector', 'action'], registers }),
    cost,
    storeFailures: new Counter({ name: 'llmaudit_governance_store_failures_total', help: 'Calls to the shared rate-limit store that failed or timed out.', registers }),
  };
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)$/i;
const external = new WeakMap<EndpointConfig, boolean>();

/** An upstream outside the pod: anything but a loopback address. */
export function isExternal(endpoint: EndpointConfig): boolean {
  let e = external.get(endpoint);
  if (e === undefined) {
    e = !LOOPBACK.test(new URL(endpoint.upstream).hostname);
    external.set(endpoint, e);
  }
  return e;
}

export interface AdmitInput {
  config: SidecarConfig;
  endpoint: EndpointConfig;
  method: string;
  apiPath: string;
  api: ApiKind;
  headers: IncomingHttpHeaders;
  /** The parsed body when it was read whole and is JSON, else undefined. */
  body: unknown;
  /** Bytes of the body (read, or announced by content-length when not read whole). */
  bodyBytes: number;
  now: number;
}

export interface Admitted {
  admission: Admission;
  block: Block | null;
  /** The body to forward instead of the one received (redact-upstream, clamp), or null. */
  forward: Buffer | null;
}

export async function admitExchange(gov: Governance, x: AdmitInput): Promise<Admitted> {
  const deployment = x.endpoint.api === 'azure-openai' || x.apiPath.includes('/deployments/') ? detectApi({ method: x.method, path: x.apiPath, endpointApi: x.endpoint.api }).deployment : undefined;
  const admission = await gov.admit(x.config, {
    api: x.api,
    endpoint: x.endpoint.name,
    external: isExternal(x.endpoint),
    body: x.body,
    bodyBytes: x.bodyBytes,
    deployment,
    headers: x.headers,
    now: x.now,
  });
  const d = admission.decision;
  const forward = d.forwardBody === undefined ? null : Buffer.from(JSON.stringify(d.forwardBody));
  return { admission, block: d.block, forward };
}

/** The stored request body with the log redactions applied; null when it cannot be (not the parsed JSON). */
export function redactStoredRequest(a: Admission | undefined, body: unknown, isJson: boolean): { body: unknown; ok: boolean } {
  const r = a?.decision.logReplacements;
  if (r === undefined || r.size === 0) return { body, ok: true };
  if (!isJson) return { body: null, ok: false };
  return { body: replaceAtPointers(body, r), ok: true };
}

const NO_GOVERNANCE = (mode: 'enforce' | 'monitor'): GovernanceRecord => ({ costUsd: null, decision: 'allow', detections: [], mode, reasons: [], risk: 0 });

/**
 * The end of an exchange: the response's detections and stored-copy redaction, the cost, the
 * record for the entry, the metrics. Returns the record and the response body to store.
 */
export async function settleExchange(
  gov: Governance,
  metrics: GovernanceMetrics | null,
  config: SidecarConfig,
  a: Admission | undefined,
  x: { api: ApiKind; endpoint: string; exchange: NormalizedExchange | null; responseBody: unknown; responseIsJson: boolean },
): Promise<{ record: GovernanceRecord; responseBody: unknown }> {
  if (a === undefined) {
    const record = NO_GOVERNANCE(config.governance.mode);
    metrics?.decisions.inc({ decision: 'allow', reason: 'none' });
    return { record, responseBody: x.responseBody };
  }
  const record: GovernanceRecord = { ...a.decision.record, detections: a.decision.record.detections.slice(), reasons: a.decision.record.reasons.slice() };
  let responseBody = x.responseBody;
  if (x.responseBody !== null && x.responseBody !== undefined && a.policy.response.length > 0) {
    const r = gov.inspectResponse(a, x.api, x.responseBody);
    if (r.detections.length > 0) {
      record.detections.push(...r.detections);
      for (const det of r.detections) if (!record.reasons.includes(`detector:${det.detector}`)) record.reasons.push(`detector:${det.detector}`);
      if (r.logReplacements.size > 0) {
        responseBody = x.responseIsJson ? replaceAtPointers(x.responseBody, r.logReplacements) : null;
        if (record.decision === 'allow' || record.decision === 'flag') record.decision = 'redact';
      } else if (record.decision === 'allow') record.decision = 'flag';
    }
  }
  const usage = x.exchange?.usage ?? null;
  const model = x.exchange?.responseModel ?? x.exchange?.requestModel ?? null;
  if (record.decision !== 'block' || a.decision.block === null) {
    record.costUsd = await gov.settle(a, x.api, model, usage);
  }
  if (metrics !== null) {
    metrics.decisions.inc({ decision: record.decision, reason: record.reasons[0] ?? 'none' });
    for (const det of record.detections) metrics.detections.inc({ detector: det.detector, action: det.action });
    if (record.costUsd !== null && record.costUsd > 0) metrics.cost.inc({ model: a.model ?? model ?? 'unknown', endpoint: x.endpoint }, record.costUsd);
  }
  return { record, responseBody };
}

/** Headers of a forwarded request whose body was rewritten: its new length, no content coding. */
export function rewriteBodyHeaders(headers: string[], length: number): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const n = (headers[i] as string).toLowerCase();
    if (n === 'content-length' || n === 'transfer-encoding' || n === 'content-encoding') headers.splice(i, 2);
  }
  headers.push('content-length', String(length));
}

/** The span's view of a decision: names and numbers, never a detected value. */
export function spanGovernance(r: GovernanceRecord): { decision: string; mode: string; risk: number; reasons: string[]; detectors: string[]; costUsd: number | null } {
  return { decision: r.decision, mode: r.mode, risk: r.risk, reasons: r.reasons, detectors: [...new Set(r.detections.map((d) => d.detector))], costUsd: r.costUsd };
}
