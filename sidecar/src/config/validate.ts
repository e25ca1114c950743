import type { ErrorObject, ValidateFunction } from 'ajv';
import { errorFactory, type ErrorRegistry } from '../errors.ts';
import type { SidecarConfig } from './schema.ts';
import { governanceProblems } from '../governance/policy.ts';
import { validate } from './config-validator.generated.ts';

export const CONFIG_ERRORS = {
  LLMAUDIT_E_CONFIG_INVALID: { message: 'configuration is invalid', exit: 1 },
  LLMAUDIT_E_CONFIG_READ: { message: 'configuration file cannot be read', exit: 1 },
  LLMAUDIT_E_CONFIG_KEY: { message: 'the signing key cannot be read or created', exit: 1 },
} as const satisfies ErrorRegistry;
export const configError = errorFactory(CONFIG_ERRORS);

// SidecarConfigSchema compiled by Ajv when the repository is built (validator-codegen.ts, with
// CONFIG_AJV_OPTIONS: every error, defaults filled in), not at start (docs/adr/0027).
const check = validate as ValidateFunction;

function describe(e: ErrorObject): string {
  const path = e.instancePath === '' ? '/' : e.instancePath;
  if (e.keyword === 'additionalProperties') return `${path}: unknown key ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  return `${path}: ${e.message ?? e.keyword}`;
}

/**
 * Validates a raw config object, fills defaults, checks cross-field rules and returns a deep-frozen
 * copy. Throws one LLMAUDIT_E_CONFIG_INVALID listing every problem with its path.
 */
export function parseSidecarConfig(raw: unknown): SidecarConfig {
  const value = structuredClone(raw);
  const problems: string[] = [];
  if (!check(value)) {
    for (const e of check.errors ?? []) if (e.keyword !== 'anyOf' && e.keyword !== 'const') problems.push(describe(e));
    // Union-of-literal failures report one 'const' per branch; say it once.
    for (const e of check.errors ?? []) if (e.keyword === 'anyOf') problems.push(`${e.instancePath || '/'}: must be one of the allowed values`);
  } else {
    const cfg = value as SidecarConfig;
    const names = new Set<string>();
    const prefixes = new Set<string>();
    cfg.endpoints.forEach((ep, i) => {
      if (names.has(ep.name)) problems.push(`/endpoints/${i}/name: duplicate endpoint ${ep.name}`);
      names.add(ep.name);
      const prefix = ep.pathPrefix ?? `/${ep.name}`;
      if (prefixes.has(prefix)) problems.push(`/endpoints/${i}/pathPrefix: duplicate prefix ${prefix}`);
      prefixes.add(prefix);
    });
    cfg.listeners.forEach((l, i) => {
      if (l.defaultEndpoint !== undefined && !names.has(l.defaultEndpoint)) problems.push(`/listeners/${i}/defaultEndpoint: no endpoint named ${l.defaultEndpoint}`);
    });
    problems.push(...governanceProblems(cfg.governance));
  }
  if (problems.length > 0) {
    throw configError('LLMAUDIT_E_CONFIG_INVALID', problems.join('; '), { details: { problems } });
  }
  return deepFreeze(value as SidecarConfig);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
