import { describe, expect, it } from 'vitest';
import { errorBody, errorFamily } from './error-shapes.ts';

describe('error shapes', () => {
  it('picks the family from the detected API, else the endpoint', () => {
    expect(errorFamily('anthropic.messages', 'auto', '/v1/messages')).toBe('anthropic');
    expect(errorFamily('ollama.chat', 'auto', '/api/chat')).toBe('ollama');
    expect(errorFamily('openai.chat', 'ollama', '/v1/chat/completions')).toBe('openai'); // Ollama's /v1 speaks OpenAI
    expect(errorFamily('opaque', 'ollama', '/api/tags')).toBe('ollama');
    expect(errorFamily(null, 'anthropic', '/x')).toBe('anthropic');
    expect(errorFamily(null, null, '/x')).toBe('openai');
  });

  it('renders each family as its own SDK expects', () => {
    expect(JSON.parse(errorBody('openai', 502, 'LLMAUDIT_E_UPSTREAM_UNREACHABLE', 'down'))).toEqual({ error: { message: 'down', type: 'server_error', code: 'LLMAUDIT_E_UPSTREAM_UNREACHABLE' } });
    expect(JSON.parse(errorBody('anthropic', 504, 'LLMAUDIT_E_UPSTREAM_TIMEOUT', 'slow'))).toEqual({ type: 'error', error: { type: 'timeout_error', message: 'slow (LLMAUDIT_E_UPSTREAM_TIMEOUT)' } });
    expect(JSON.parse(errorBody('ollama', 503, 'LLMAUDIT_E_LOG_UNAVAILABLE', 'no log'))).toEqual({ error: 'no log (LLMAUDIT_E_LOG_UNAVAILABLE)' });
  });
});
