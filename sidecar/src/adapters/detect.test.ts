import { describe, expect, it } from 'vitest';
import { detectApi } from './detect.ts';

describe('detectApi', () => {
  const post = (path: string, endpointApi?: string) => detectApi({ method: 'POST', path, endpointApi, contentType: 'application/json' });

  it('routes the OpenAI paths, with or without a base path', () => {
    expect(post('/v1/chat/completions')).toEqual({ api: 'openai.chat', provider: 'openai' });
    expect(post('/openai-prod/v1/responses')).toEqual({ api: 'openai.responses', provider: 'openai' });
    expect(post('/v1/embeddings')).toEqual({ api: 'openai.embeddings', provider: 'openai' });
    expect(post('/v1/completions')).toEqual({ api: 'openai.completions', provider: 'openai' });
  });

  it('recognises Azure OpenAI deployments and reports the deployment', () => {
    expect(post('/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21')).toEqual({ api: 'openai.chat', provider: 'azure.ai.openai', deployment: 'gpt-4o' });
    expect(post('/openai/deployments/emb/embeddings?api-version=2024-10-21')).toMatchObject({ api: 'openai.embeddings', provider: 'azure.ai.openai' });
    expect(post('/openai/v1/responses')).toEqual({ api: 'openai.responses', provider: 'azure.ai.openai' });
    expect(post('/v1/chat/completions', 'azure-openai').provider).toBe('azure.ai.openai');
  });

  it('routes Anthropic and Ollama, including Ollama /v1 and the legacy /api/embeddings', () => {
    expect(post('/v1/messages')).toEqual({ api: 'anthropic.messages', provider: 'anthropic' });
    expect(post('/v1/messages/count_tokens')).toEqual({ api: 'opaque', provider: 'anthropic' });
    expect(post('/api/chat')).toEqual({ api: 'ollama.chat', provider: 'ollama' });
    expect(post('/api/generate/')).toEqual({ api: 'ollama.generate', provider: 'ollama' });
    expect(post('/api/embed')).toEqual({ api: 'ollama.embed', provider: 'ollama' });
    expect(post('/api/embeddings')).toEqual({ api: 'ollama.embed', provider: 'ollama' });
    expect(post('/v1/chat/completions', 'ollama')).toEqual({ api: 'openai.chat', provider: 'ollama' });
    expect(post('/v1/chat/completions', 'vllm')).toEqual({ api: 'openai.chat', provider: 'vllm' });
  });

  it('is opaque for other methods, other paths, non-JSON bodies and generic endpoints', () => {
    expect(detectApi({ method: 'GET', path: '/v1/models' })).toEqual({ api: 'opaque', provider: 'openai' });
    expect(post('/v1/audio/transcriptions').api).toBe('opaque');
    expect(detectApi({ method: 'POST', path: '/v1/chat/completions', contentType: 'multipart/form-data; boundary=x' }).api).toBe('opaque');
    expect(post('/v1/chat/completions', 'generic').api).toBe('opaque');
    expect(post('/something')).toEqual({ api: 'opaque', provider: 'unknown' });
  });
});
