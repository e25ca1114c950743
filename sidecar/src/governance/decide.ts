/**
 * The governance decision, a pure function of the request, the compiled policy and the limiter
 * and budget state read for it (docs/governance.md "How a request is decided"):
 *
 *   inspectRequest(facts, policy, key) → Inspection      models, detectors, caps, risk
 *   decide(policy, inspection, limits) → Decision        + rate limits, budgets, mode
 *
 * The engine (engine.ts) is the imperative shell: it reads the limiter and budget state between
 * the two and carries the decision out.
 */
import type { ApiKind } from '../adapters/types.ts';
import { isRecord } from '../adapters/json-access.ts';
import { detectAll, type Detector, type Match } from './detectors.ts';
import { redactionToken, redactText, replaceAtPointers } from './redact.ts';
import { requestTextFields, responseTextFields } from './text-fields.ts';
import { checkModel, type ModelVerdict } from './models.ts';
import { checkCaps, type CapHit } from './caps.ts';
import type { ActiveDetector, CompiledPolicy } from './policy.ts';
import type { DetectorAction, ResponseDetectorAction } from './schema.ts';

export type GovernanceDecision = 'allow' | 'flag' | 'redact' | 'block';

export interface Detection {
  action: DetectorAction | ResponseDetectorAction;
  count: number;
  detector: string;
  /** JSON Pointer of the text field in the entry (`/request/body/messages/0/content`). */
  path: string;
}

/** The `governance` member of every entry (docs/audit-log-format.md). Members in RFC 8785 order. */
export interface GovernanceRecord {
  costUsd: number | null;
  decision: GovernanceDecision;
  detections: Detection[];
  mode: 'enforce' | 'monitor';
  rateLimit?: { key: string; remaining: number };
  reasons: string[];
  risk: number;
}

export interface RequestFacts {
  api: ApiKind;
  endpoint: string;
  /** The upstream is not on a loopback address. */
  external: boolean;
  /** The request body parsed as JSON; undefined when not JSON or not read whole. */
  body: unknown;
  bodyBytes: number;
  /** Azure OpenAI deployment named in the path. */
  deployment?: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  now: number;
}

export interface Block {
  reason: string;
  status: 403 | 429 | 503;
  code: 'LLMAUDIT_E_POLICY_BLOCKED' | 'LLMAUDIT_E_RATE_LIMITED' | 'LLMAUDIT_E_BUDGET_EXCEEDED' | 'LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE';
  message: string;
  retryAfterS?: number;
}

export interface Inspection {
  model: ModelVerdict;
  detections: Detection[];
  /** Replacement text per JSON Pointer (in the body) for the stored copy and for the upstream. */
  logReplacements: Map<string, string>;
  upstreamReplacements: Map<string, string>;
  /** With caps.outputTokens: clamp, the body with the ceiling written in. */
  clampedBody: Record<string, unknown> | null;
  blocks: Block[];
  flags: string[];
  risk: number;
}

export interface LimitFacts {
  /** The most constraining request bucket after the take; null when no rule applies. */
  rateLimit: { key: string; remaining: number; allowed: boolean; retryAfterMs: number; by: string } | null;
  /** Redis could not answer in time. */
  unavailable: boolean;
  budgets: Array<{ period: 'day' | 'month'; spent: number; usd: number; action: 'block' | 'flag'; retryAfterS: number }>;
}

export interface Decision {
  record: GovernanceRecord;
  /** The answer the client gets instead of the upstream's (enforce mode only). */
  block: Block | null;
  /** The body to forward when it differs from the one received. */
  forwardBody: unknown;
  /** Replacements for the stored request body (even in monitor mode: a value never reaches the disk). */
  logReplacements: Map<string, string>;
}

const NO_MATCH: readonly Match[] = [];

function detectionsOver(fields: ReturnType<typeof requestTextFields>, active: readonly ActiveDetector[], actionOf: (d: ActiveDetector) => DetectorAction | ResponseDetectorAction, prefix: string, key: Buffer) {
  const detectors: Detector[] = active.map((a) => a.detector);
  const byName = new Map(active.map((a) => [a.detector.name, a] as const));
  const detections: Detection[] = [];
  const log = new Map<string, string>();
  const upstream = new Map<string, string>();
  const fired = new Set<string>();
  for (const f of fields) {
    const matches = detectors.length === 0 ? NO_MATCH : detectAll(detectors, f.text);
    if (matches.length === 0) continue;
    const counts = new Map<string, number>();
    const toLog: Match[] = [];
    const toUpstream: Match[] = [];
    for (const m of matches) {
      counts.set(m.detector, (counts.get(m.detector) ?? 0) + 1);
      const a = byName.get(m.detector) as ActiveDetector;
      const action = actionOf(a);
      if (action !== 'flag' && action !== 'ignore') toLog.push(m);
      if (action === 'redact-upstream') toUpstream.push(m);
    }
    for (const [detector, count] of counts) {
      fired.add(detector);
      // Members in RFC 8785 order, as the log's canonicalizer takes them without copying.
      detections.push({ action: actionOf(byName.get(detector) as ActiveDetector), count, detector, path: prefix + f.path });
    }
    const tokenOf = (m: Match, value: string) => redactionToken(key, m.detector, (byName.get(m.detector) as ActiveDetector).detector.label, value);
    if (toLog.length > 0) log.set(f.path, redactText(f.text, toLog, tokenOf));
    if (toUpstream.length > 0) upstream.set(f.path, redactText(f.text, toUpstream, tokenOf));
  }
  return { detections, log, upstream, fired };
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

export function inspectRequest(facts: RequestFacts, policy: CompiledPolicy, key: Buffer): Inspection {
  const cfg = policy.config;
  const body = facts.body;
  const bodyModel = isRecord(body) && typeof body['model'] === 'string' ? body['model'] : null;
  const model = checkModel(cfg.models, facts.endpoint, bodyModel, facts.deployment);
  const blocks: Block[] = [];
  const flags: string[] = [];
  const policyBlock = (reason: string, message: string) => blocks.push({ reason, status: 403, code: 'LLMAUDIT_E_POLICY_BLOCKED', message: `policy ${policy.name}: ${message}` });
  if (model.denied !== null) policyBlock('model_denied', `model ${model.resolved ?? '(none)'} ${model.denied}`);

  const fields = policy.request.length === 0 || body === undefined ? [] : requestTextFields(facts.api, body);
  const d = detectionsOver(fields, policy.request, (a) => a.action, '/request/body', key);
  for (const det of d.detections) {
    if (det.action === 'block') policyBlock(`detector:${det.detector}`, `${det.detector} found in ${det.path}`);
  }
  const blockedDetectors = new Set(blocks.map((b) => b.reason));
  for (const name of d.fired) if (!blockedDetectors.has(`detector:${name}`)) flags.push(`detector:${name}`);

  const caps = checkCaps(cfg.caps, facts.api, body, facts.bodyBytes);
  for (const h of caps.hits) policyBlock(`cap:${h.cap}`, h.message);
  if (caps.clamped !== null) flags.push('cap:output_tokens_clamped');

  const risk = riskScore(policy, facts, d.fired, model.denied !== null, caps.hits, caps.clamped !== null);
  const r = cfg.risk;
  if (r.blockAt !== undefined && risk >= r.blockAt) policyBlock('risk', `risk score ${risk} reaches ${r.blockAt}`);
  else if (r.flagAt !== undefined && risk >= r.flagAt) flags.push('risk');

  return { model, detections: d.detections, logReplacements: d.log, upstreamReplacements: d.upstream, clampedBody: caps.clamped, blocks, flags, risk };
}

function riskScore(policy: CompiledPolicy, facts: RequestFacts, fired: ReadonlySet<string>, denied: boolean, capHits: readonly CapHit[], clamped: boolean): number {
  const r = policy.config.risk;
  let score = 0;
  for (const name of fired) {
    const a = policy.request.find((x) => x.detector.name === name);
    score += r.detectors[name] ?? (a?.detector.kind === 'secret' ? r.secret : r.personalData);
  }
  if (facts.external) score += r.externalEndpoint;
  if (denied) score += r.deniedModel;
  if (capHits.length > 0 || clamped) score += r.capHit;
  if (r.offHours !== 0) {
    const hour = new Date(facts.now).getUTCHours();
    const { from, to } = r.offHoursUtc;
    if (from === to ? false : from < to ? hour >= from && hour < to : hour >= from || hour < to) score += r.offHours;
  }
  for (const h of r.headers) if (headerValue(facts.headers[h.name.toLowerCase()]) === h.equals) score += h.weight;
  return score;
}

export function decide(policy: CompiledPolicy, facts: RequestFacts, ins: Inspection, limits: LimitFacts): Decision {
  const cfg = policy.config;
  const enforce = cfg.mode === 'enforce';
  const blocks = ins.blocks.slice();
  const flags = ins.flags.slice();
  for (const b of limits.budgets) {
    if (b.spent < b.usd) continue;
    if (b.action === 'flag') flags.push(`budget:${b.period}`);
    else blocks.push({ reason: `budget:${b.period}`, status: 429, code: 'LLMAUDIT_E_BUDGET_EXCEEDED', message: `policy ${policy.name}: the ${b.period} budget of ${b.usd} USD for ${policy.workload} is spent`, retryAfterS: b.retryAfterS });
  }
  const rl = limits.rateLimit;
  if (limits.unavailable) {
    if (cfg.rateLimits.redis?.onUnavailable === 'block') blocks.push({ reason: 'rate_limit_unavailable', status: 503, code: 'LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE', message: `policy ${policy.name}: onUnavailable is block` });
    else flags.push('rate_limit_unavailable');
  } else if (rl !== null && !rl.allowed) {
    blocks.push({ reason: `rate_limit:${rl.by}`, status: 429, code: 'LLMAUDIT_E_RATE_LIMITED', message: `policy ${policy.name}: the limit per ${rl.by} is reached`, retryAfterS: Math.max(1, Math.ceil(rl.retryAfterMs / 1000)) });
  }
  const redacts = ins.logReplacements.size > 0;
  const decision: GovernanceDecision = blocks.length > 0 ? 'block' : redacts ? 'redact' : flags.length > 0 ? 'flag' : 'allow';
  const reasons = blocks.map((b) => b.reason);
  for (const f of flags) if (!reasons.includes(f)) reasons.push(f);
  const shown = rl !== null && !limits.unavailable ? { key: rl.key, remaining: Math.max(0, Math.floor(rl.remaining)) } : undefined;
  const record: GovernanceRecord = { costUsd: null, decision, detections: ins.detections, mode: cfg.mode, ...(shown === undefined ? {} : { rateLimit: shown }), reasons, risk: ins.risk };
  // Rewrites of the forwarded body (redact-upstream, clamp) only where the policy enforces.
  let forwardBody: unknown = undefined;
  if (enforce && blocks.length === 0 && (ins.upstreamReplacements.size > 0 || ins.clampedBody !== null)) {
    forwardBody = replaceAtPointers(ins.clampedBody ?? facts.body, ins.upstreamReplacements);
  }
  return { record, block: enforce ? (blocks[0] ?? null) : null, forwardBody, logReplacements: ins.logReplacements };
}

/** Detections in a (reconstructed) response body, and the stored copy's replacements. */
export function inspectResponse(api: ApiKind, body: unknown, policy: CompiledPolicy, key: Buffer): { detections: Detection[]; logReplacements: Map<string, string> } {
  if (policy.response.length === 0) return { detections: [], logReplacements: new Map() };
  const d = detectionsOver(responseTextFields(api, body), policy.response, (a) => a.responses, '/response/body', key);
  return { detections: d.detections, logReplacements: d.log };
}
