import { describe, expect, it } from 'vitest';
import { checkCaps } from './caps.ts';

const caps = (c: Record<string, unknown>) => ({ outputTokens: 'reject' as const, ...c });

describe('checkCaps', () => {
  it('reads the output-token field of each API family', () => {
    const c = caps({ maxOutputTokens: 100 });
    expect(checkCaps(c, 'openai.chat', { max_completion_tokens: 101 }, 10).hits.map((h) => h.cap)).toEqual(['output_tokens']);
    expect(checkCaps(c, 'openai.chat', { max_tokens: 100 }, 10).hits).toEqual([]);
    expect(checkCaps(c, 'openai.responses', { max_output_tokens: 500 }, 10).hits).toHaveLength(1);
    expect(checkCaps(c, 'anthropic.messages', { max_tokens: 4096 }, 10).hits).toHaveLength(1);
    expect(checkCaps(c, 'ollama.chat', { options: { num_predict: -1 } }, 10).hits).toHaveLength(1); // -1: unlimited
    expect(checkCaps(c, 'openai.chat', {}, 10).hits).toEqual([]); // absent: nothing to reject
  });

  it('clamps: the body to forward asks for the ceiling, absent or above', () => {
    const c = caps({ maxOutputTokens: 100, outputTokens: 'clamp' });
    expect(checkCaps(c, 'anthropic.messages', { max_tokens: 4096, model: 'm' }, 10).clamped).toEqual({ max_tokens: 100, model: 'm' });
    expect(checkCaps(c, 'openai.chat', { model: 'm' }, 10).clamped).toEqual({ model: 'm', max_completion_tokens: 100 });
    expect(checkCaps(c, 'ollama.generate', { options: { temperature: 0 } }, 10).clamped).toEqual({ options: { temperature: 0, num_predict: 100 } });
    expect(checkCaps(c, 'openai.chat', { max_tokens: 50 }, 10).clamped).toBeNull();
  });

  it('counts body bytes, tools and messages', () => {
    const c = caps({ maxBodyBytes: 100, maxTools: 1, maxMessages: 2 });
    const body = { tools: [{}, {}], messages: [{}, {}, {}] };
    expect(checkCaps(c, 'openai.chat', body, 101).hits.map((h) => h.cap)).toEqual(['body_bytes', 'tools', 'messages']);
    expect(checkCaps(c, 'openai.responses', { input: [{}, {}, {}] }, 1).hits.map((h) => h.cap)).toEqual(['messages']);
  });
});
