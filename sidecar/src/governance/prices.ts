/**
 * Cost of an exchange in USD from its usage and a price table (USD per 1M tokens). The shipped
 * table holds the providers' list prices as of PRICES_AS_OF (openai.com/api/pricing,
 * anthropic.com/pricing); a policy overrides or extends it per model glob (`governance.prices`).
 * The most specific glob wins (the longest), so `gpt-4o-mini*` beats `gpt-4o*`.
 *
 * Token accounting differs by family: OpenAI's input count includes cached tokens (priced at the
 * cached rate); Anthropic's excludes cache reads and cache writes, which are priced at the cached
 * rate and at 1.25× the input rate (5-minute cache writes).
 */
import type { ApiKind, Usage } from '../adapters/types.ts';
import { globMatch } from './models.ts';
import type { PriceOverride } from './schema.ts';

export const PRICES_AS_OF = '2025-08-07';

export type Price = PriceOverride;

export const SHIPPED_PRICES: Readonly<Record<string, Price>> = {
  'gpt-5*': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini*': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano*': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'gpt-4.1*': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini*': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano*': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-4o*': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini*': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'gpt-4-turbo*': { input: 10, output: 30 },
  'gpt-3.5-turbo*': { input: 0.5, output: 1.5 },
  'o1*': { input: 15, cachedInput: 7.5, output: 60 },
  'o1-mini*': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o3*': { input: 2, cachedInput: 0.5, output: 8 },
  'o3-mini*': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o4-mini*': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'text-embedding-3-small*': { input: 0.02, output: 0 },
  'text-embedding-3-large*': { input: 0.13, output: 0 },
  'text-embedding-ada-002*': { input: 0.1, output: 0 },
  'claude-opus-4*': { input: 15, cachedInput: 1.5, output: 75 },
  'claude-sonnet-4*': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-3-7-sonnet*': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-3-5-sonnet*': { input: 3, cachedInput: 0.3, output: 15 },
  'claude-3-5-haiku*': { input: 0.8, cachedInput: 0.08, output: 4 },
  'claude-3-opus*': { input: 15, cachedInput: 1.5, output: 75 },
  'claude-3-haiku*': { input: 0.25, cachedInput: 0.03, output: 1.25 },
};

function lookup(table: Readonly<Record<string, Price>>, model: string): Price | null {
  let best: string | null = null;
  for (const g of Object.keys(table)) if (globMatch(g, model) && (best === null || g.length > best.length)) best = g;
  return best === null ? null : (table[best] as Price);
}

/** The price of a model: the policy's table first, then the shipped one. null: unknown model. */
export function priceOf(model: string, overrides: Readonly<Record<string, Price>>): Price | null {
  return lookup(overrides, model) ?? lookup(SHIPPED_PRICES, model);
}

/** USD for one exchange, rounded to 1e-9; null when the model or its usage is unknown. */
export function costUsd(api: ApiKind, model: string | null, usage: Usage | null | undefined, overrides: Readonly<Record<string, Price>>): number | null {
  if (model === null || usage === null || usage === undefined) return null;
  if (usage.inputTokens === null && usage.outputTokens === null) return null;
  const p = priceOf(model, overrides);
  if (p === null) return null;
  const cached = p.cachedInput ?? p.input;
  const input = usage.inputTokens ?? 0;
  const read = usage.cacheReadTokens ?? 0;
  const output = usage.outputTokens ?? 0;
  let micro: number;
  if (api === 'anthropic.messages') micro = input * p.input + read * cached + (usage.cacheCreationTokens ?? 0) * p.input * 1.25 + output * p.output;
  else micro = Math.max(0, input - read) * p.input + Math.min(read, input) * cached + output * p.output;
  return Math.round((micro / 1e6) * 1e9) / 1e9;
}
