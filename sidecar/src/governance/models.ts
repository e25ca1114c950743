/**
 * Model rules: which model a request names (the body's `model`, or for Azure OpenAI the
 * deployment in the path, which the body usually lacks), its alias resolution, and the
 * allow/deny globs, global and per endpoint.
 */
import type { GovernanceConfig } from './schema.ts';

/**
 * `*` matches any run, `?` one character. The classic two-pointer walk with one remembered star:
 * O(name × glob) at worst, no regex built from user text.
 */
export function globMatch(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === name[n])) {
      g++;
      n++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      mark = n;
    } else if (star >= 0) {
      g = star + 1;
      n = ++mark;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

export interface ModelVerdict {
  /** The model as named (body or deployment), null when none. */
  requested: string | null;
  /** After aliases: what the rules and the price table use. */
  resolved: string | null;
  /** Why it is refused, or null. */
  denied: string | null;
}

export function resolveModel(models: GovernanceConfig['models'], bodyModel: string | null, deployment: string | undefined): { requested: string | null; resolved: string | null } {
  const requested = bodyModel ?? deployment ?? null;
  if (requested === null) return { requested, resolved: null };
  const alias = models.aliases[requested] ?? (deployment !== undefined ? models.aliases[deployment] : undefined);
  return { requested, resolved: alias ?? requested };
}

function refused(rules: { allow: readonly string[]; deny: readonly string[] }, model: string): string | null {
  for (const g of rules.deny) if (globMatch(g, model)) return `denied by ${g}`;
  if (rules.allow.length > 0 && !rules.allow.some((g) => globMatch(g, model))) return 'not in the allowed models';
  return null;
}

export function checkModel(models: GovernanceConfig['models'], endpoint: string, bodyModel: string | null, deployment: string | undefined): ModelVerdict {
  const { requested, resolved } = resolveModel(models, bodyModel, deployment);
  const scoped = models.endpoints[endpoint];
  const hasRules = models.allow.length > 0 || models.deny.length > 0 || scoped !== undefined;
  if (!hasRules) return { requested, resolved, denied: null };
  if (resolved === null) {
    // Allow-lists cannot be satisfied by a request that names no model.
    const needs = models.allow.length > 0 || (scoped?.allow.length ?? 0) > 0;
    return { requested, resolved, denied: needs ? 'the request names no model' : null };
  }
  const denied = refused(models, resolved) ?? (scoped === undefined ? null : refused(scoped, resolved));
  return { requested, resolved, denied };
}
