/**
 * Which API family a request speaks, from its method and path (and the endpoint's configured
 * `api`, see config/schema.ts ApiFamilyName). Paths are matched by suffix so that a base path
 * (`/v1`, `/openai/v1`, an endpoint prefix) in front does not matter.
 *
 * Azure OpenAI: `/openai/deployments/{deployment}/chat/completions?api-version=...` (Azure
 * OpenAI REST reference) and the newer `/openai/v1/...`; the provider is `azure.ai.openai`
 * (OpenTelemetry GenAI semconv `gen_ai.provider.name`). Ollama serves its native API under
 * `/api/` and an OpenAI-compatible one under `/v1/` (ollama docs/openai.md).
 */
import type { ApiKind, ProviderName } from './types.ts';

export interface DetectInput {
  method: string;
  /** Request path, with or without query string. */
  path: string;
  /** The endpoint's configured API family (`auto`, `openai`, `azure-openai`, ...). */
  endpointApi?: string | undefined;
  /** Request content-type; a non-JSON body (multipart, form) is opaque. */
  contentType?: string | null | undefined;
}

export interface DetectedApi {
  api: ApiKind;
  provider: ProviderName;
  /** Azure OpenAI deployment named in the path (the body of such calls often has no `model`). */
  deployment?: string;
}

// Ollama first: its legacy `/api/embeddings` must not be read as OpenAI's `/v1/embeddings`.
const RULES: ReadonlyArray<readonly [RegExp, ApiKind]> = [
  [/\/api\/chat$/, 'ollama.chat'],
  [/\/api\/generate$/, 'ollama.generate'],
  [/\/api\/embed(dings)?$/, 'ollama.embed'],
  [/\/chat\/completions$/, 'openai.chat'],
  [/\/responses$/, 'openai.responses'],
  [/\/embeddings$/, 'openai.embeddings'],
  [/\/completions$/, 'openai.completions'],
  [/\/messages$/, 'anthropic.messages'],
];

export function detectApi(input: DetectInput): DetectedApi {
  const path = (input.path.split('?')[0] ?? '').replace(/\/+$/, '');
  const configured = input.endpointApi ?? 'auto';
  const provider = providerFor(configured, path);
  const deployment = /(?:^|\/)openai\/deployments\/([^/]+)\//.exec(path)?.[1];
  const result = (api: ApiKind): DetectedApi => (deployment === undefined ? { api, provider } : { api, provider, deployment: decodeURIComponent(deployment) });
  if (configured === 'generic' || input.method.toUpperCase() !== 'POST') return result('opaque');
  const ct = input.contentType?.toLowerCase() ?? '';
  if (ct !== '' && !ct.includes('json')) return result('opaque');
  for (const [re, api] of RULES) if (re.test(path)) return result(api);
  return result('opaque');
}

function providerFor(configured: string, path: string): ProviderName {
  switch (configured) {
    case 'openai':
      return 'openai';
    case 'azure-openai':
      return 'azure.ai.openai';
    case 'anthropic':
      return 'anthropic';
    case 'ollama':
      return 'ollama';
    case 'vllm':
      return 'vllm';
    default:
      break;
  }
  if (/(^|\/)openai\/(deployments\/[^/]+|v1)\//.test(path)) return 'azure.ai.openai';
  if (/(^|\/)api\/(chat|generate|embed|embeddings|tags|show|pull|ps|version)$/.test(path)) return 'ollama';
  if (/\/messages$/.test(path) || /\/messages\/count_tokens$/.test(path)) return 'anthropic';
  if (/\/(chat\/completions|responses|embeddings|completions|models)$/.test(path)) return 'openai';
  return 'unknown';
}
