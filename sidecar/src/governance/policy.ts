/**
 * A governance config compiled once per config object: the detectors to run with their actions,
 * the custom detectors' regexes, the rate-limit bucket specs. `capture.mode: redacted` makes every
 * built-in detector at least redact-in-log, on requests and responses.
 */
import { builtinDetector, DETECTOR_PRIORITY, type Detector } from './detectors.ts';
import { customDetector } from './custom-detector.ts';
import { BUILTIN_DETECTORS, type BuiltinDetector } from './builtin-detectors.ts';
import type { DetectorAction, GovernanceConfig, ResponseDetectorAction } from './schema.ts';

type CaptureMode = 'full' | 'redacted' | 'metadata';

export interface ActiveDetector {
  detector: Detector;
  action: DetectorAction;
  responses: ResponseDetectorAction;
}

export interface CompiledPolicy {
  name: string;
  config: GovernanceConfig;
  workload: string;
  captureMode: CaptureMode;
  /** In priority order (detectors.ts DETECTOR_PRIORITY, custom ones last). */
  request: ActiveDetector[];
  /** Those with a response action other than off. */
  response: ActiveDetector[];
  /** Nothing to inspect in the body: skip the text walk. */
  inspectsBody: boolean;
}

const ACTION_RANK: Record<DetectorAction, number> = { flag: 0, 'redact-in-log': 1, 'redact-upstream': 2, block: 3 };

export function atLeast(a: DetectorAction, b: DetectorAction): DetectorAction {
  return ACTION_RANK[a] >= ACTION_RANK[b] ? a : b;
}

export function isBuiltin(name: string): name is BuiltinDetector {
  return (BUILTIN_DETECTORS as readonly string[]).includes(name);
}

export function compilePolicy(name: string, config: GovernanceConfig, captureMode: CaptureMode): CompiledPolicy {
  const redacted = captureMode === 'redacted';
  const request: ActiveDetector[] = [];
  for (const n of DETECTOR_PRIORITY as readonly BuiltinDetector[]) {
    const rule = config.detectors[n];
    if (rule === undefined && !redacted) continue;
    const action = rule === undefined ? 'redact-in-log' : redacted ? atLeast(rule.action, 'redact-in-log') : rule.action;
    const responses: ResponseDetectorAction = redacted ? 'redact-in-log' : (rule?.responses ?? 'ignore');
    request.push({ detector: builtinDetector(n), action, responses });
  }
  for (const c of config.customDetectors) {
    request.push({
      detector: customDetector(c.name, c.pattern, c.caseInsensitive),
      action: redacted ? atLeast(c.action, 'redact-in-log') : c.action,
      responses: redacted ? 'redact-in-log' : c.responses,
    });
  }
  const m = config.models;
  const inspectsBody = request.length > 0;
  return {
    name,
    config,
    workload: config.workload ?? name,
    captureMode,
    request,
    response: request.filter((d) => d.responses !== 'ignore'),
    inspectsBody: inspectsBody || m.allow.length > 0 || m.deny.length > 0,
  };
}

/** Problems with a governance config the schema cannot express, each with its path. */
export function governanceProblems(config: GovernanceConfig): string[] {
  const problems: string[] = [];
  for (const n of Object.keys(config.detectors)) if (!isBuiltin(n)) problems.push(`/governance/detectors/${n}: no such built-in detector (${BUILTIN_DETECTORS.join(', ')})`);
  const names = new Set<string>();
  config.customDetectors.forEach((c, i) => {
    if (isBuiltin(c.name) || names.has(c.name)) problems.push(`/governance/customDetectors/${i}/name: ${c.name} is already a detector`);
    names.add(c.name);
    try {
      customDetector(c.name, c.pattern, c.caseInsensitive);
    } catch (err) {
      problems.push(`/governance/customDetectors/${i}/pattern: ${(err as Error).message}`);
    }
  });
  const by = new Set<string>();
  config.rateLimits.rules.forEach((r, i) => {
    if (by.has(r.by)) problems.push(`/governance/rateLimits/rules/${i}/by: one rule per key (${r.by} appears twice)`);
    by.add(r.by);
    if (r.requestsPerMinute === undefined && r.tokensPerMinute === undefined) problems.push(`/governance/rateLimits/rules/${i}: set requestsPerMinute, tokensPerMinute or both`);
  });
  const periods = new Set<string>();
  config.budgets.forEach((b, i) => {
    if (periods.has(b.period)) problems.push(`/governance/budgets/${i}/period: one budget per period (${b.period} appears twice)`);
    periods.add(b.period);
  });
  const r = config.risk;
  if (r.blockAt !== undefined && r.flagAt !== undefined && r.flagAt > r.blockAt) problems.push('/governance/risk/flagAt: above blockAt');
  return problems;
}
