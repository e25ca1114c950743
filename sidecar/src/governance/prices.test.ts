import { describe, expect, it } from 'vitest';
import { costUsd, priceOf } from './prices.ts';

describe('costUsd', () => {
  it('picks the most specific glob and prices OpenAI cached input inside the input count', () => {
    expect(priceOf('gpt-4o-mini-2024-07-18', {})).toEqual({ input: 0.15, cachedInput: 0.075, output: 0.6 });
    expect(priceOf('gpt-4o-2024-08-06', {})?.input).toBe(2.5);
    // 1000 input of which 400 cached, 200 output on gpt-4o: 600×2.5 + 400×1.25 + 200×10 per 1M.
    expect(costUsd('openai.chat', 'gpt-4o', { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 400 }, {})).toBe(0.004);
  });

  it('prices Anthropic cache reads and writes outside the input count', () => {
    // 100 input×3 + 1000 read×0.3 + 1000 written×3.75 + 10 output×15 per 1M.
    expect(costUsd('anthropic.messages', 'claude-sonnet-4-20250514', { inputTokens: 100, outputTokens: 10, cacheReadTokens: 1000, cacheCreationTokens: 1000 }, {})).toBe(0.0045);
  });

  it('lets a policy override or extend the table; unknown models and usage cost null', () => {
    expect(costUsd('ollama.chat', 'llama3.2', { inputTokens: 1_000_000, outputTokens: 0 }, { 'llama*': { input: 0.01, output: 0.02 } })).toBe(0.01);
    expect(costUsd('ollama.chat', 'llama3.2', { inputTokens: 10, outputTokens: 10 }, {})).toBeNull();
    expect(costUsd('openai.chat', 'gpt-4o', { inputTokens: null, outputTokens: null }, {})).toBeNull();
  });
});
