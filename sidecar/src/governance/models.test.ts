import { describe, expect, it } from 'vitest';
import { checkModel, globMatch } from './models.ts';

const rules = (r: Partial<{ allow: string[]; deny: string[]; aliases: Record<string, string>; endpoints: Record<string, { allow: string[]; deny: string[] }> }>) => ({ allow: [], deny: [], aliases: {}, endpoints: {}, ...r });

describe('globMatch', () => {
  it('matches * runs and ? characters, anchored at both ends', () => {
    expect(globMatch('gpt-*', 'gpt-4o')).toBe(true);
    expect(globMatch('gpt-*', 'chatgpt-4o')).toBe(false);
    expect(globMatch('claude-3-?-*', 'claude-3-5-sonnet')).toBe(true);
    expect(globMatch('claude-3-?-*', 'claude-3-opus')).toBe(false);
    expect(globMatch('*mini*', 'gpt-4o-mini-2024')).toBe(true);
    expect(globMatch('o1', 'o1-mini')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
  });
});

describe('checkModel', () => {
  it('deny wins over allow; an allow-list refuses the rest', () => {
    const r = rules({ allow: ['gpt-4o*'], deny: ['gpt-4o-mini*'] });
    expect(checkModel(r, 'openai', 'gpt-4o', undefined).denied).toBeNull();
    expect(checkModel(r, 'openai', 'gpt-4o-mini', undefined).denied).toBe('denied by gpt-4o-mini*');
    expect(checkModel(r, 'openai', 'o3', undefined).denied).toBe('not in the allowed models');
  });

  it('resolves aliases, and the Azure deployment in the path when the body names no model', () => {
    const r = rules({ deny: ['gpt-4o'], aliases: { 'prod-chat': 'gpt-4o' } });
    expect(checkModel(r, 'azure', null, 'prod-chat')).toEqual({ requested: 'prod-chat', resolved: 'gpt-4o', denied: 'denied by gpt-4o' });
    expect(checkModel(r, 'openai', 'prod-chat', undefined).resolved).toBe('gpt-4o');
  });

  it('applies per-endpoint rules in addition to the global ones', () => {
    const r = rules({ endpoints: { ollama: { allow: ['llama3*'], deny: [] } } });
    expect(checkModel(r, 'ollama', 'mistral', undefined).denied).toBe('not in the allowed models');
    expect(checkModel(r, 'openai', 'mistral', undefined).denied).toBeNull();
  });

  it('refuses a request naming no model only when an allow-list applies', () => {
    expect(checkModel(rules({ allow: ['gpt-*'] }), 'openai', null, undefined).denied).toBe('the request names no model');
    expect(checkModel(rules({ deny: ['gpt-*'] }), 'openai', null, undefined).denied).toBeNull();
  });
});
