/**
 * Request caps: body size, the output-token ceiling (refuse, or clamp the forwarded request),
 * the number of tools and of messages. The output-token field differs per API family.
 */
import type { ApiKind } from '../adapters/types.ts';
import { isRecord } from '../adapters/json-access.ts';
import type { GovernanceConfig } from './schema.ts';

export interface CapHit {
  cap: 'body_bytes' | 'output_tokens' | 'tools' | 'messages';
  message: string;
}

export interface CapVerdict {
  hits: CapHit[];
  /** With outputTokens: clamp, the body to forward (the ceiling written in), else null. */
  clamped: Record<string, unknown> | null;
}

/** Where each API family asks for an output-token limit (the first present wins). */
const OUTPUT_FIELDS: Partial<Record<ApiKind, readonly string[]>> = {
  'openai.chat': ['max_completion_tokens', 'max_tokens'],
  'openai.completions': ['max_tokens'],
  'openai.responses': ['max_output_tokens'],
  'anthropic.messages': ['max_tokens'],
};

function outputLimit(api: ApiKind, body: Record<string, unknown>): { field: string | null; value: number | null } {
  if (api === 'ollama.chat' || api === 'ollama.generate') {
    const o = body['options'];
    const v = isRecord(o) ? o['num_predict'] : undefined;
    return { field: 'options.num_predict', value: typeof v === 'number' ? v : null };
  }
  const fields = OUTPUT_FIELDS[api];
  if (fields === undefined) return { field: null, value: null };
  for (const f of fields) if (typeof body[f] === 'number') return { field: f, value: body[f] };
  return { field: fields[0] ?? null, value: null };
}

export function checkCaps(caps: GovernanceConfig['caps'], api: ApiKind, body: unknown, bodyBytes: number): CapVerdict {
  const hits: CapHit[] = [];
  let clamped: Record<string, unknown> | null = null;
  if (caps.maxBodyBytes !== undefined && bodyBytes > caps.maxBodyBytes) hits.push({ cap: 'body_bytes', message: `request body of ${bodyBytes} bytes is over the cap of ${caps.maxBodyBytes}` });
  if (!isRecord(body)) return { hits, clamped };
  const max = caps.maxOutputTokens;
  if (max !== undefined) {
    const { field, value } = outputLimit(api, body);
    // Ollama's -1/-2 mean "no limit"/"fill the context": over any ceiling.
    const over = value !== null && (value > max || value < 0);
    if (field !== null && (over || (value === null && caps.outputTokens === 'clamp'))) {
      if (caps.outputTokens === 'clamp') {
        clamped = { ...body };
        if (field === 'options.num_predict') clamped['options'] = { ...(isRecord(body['options']) ? body['options'] : {}), num_predict: max };
        else clamped[field] = max;
      } else hits.push({ cap: 'output_tokens', message: `${field} ${String(value)} is over the ceiling of ${max}` });
    }
  }
  if (caps.maxTools !== undefined && Array.isArray(body['tools']) && body['tools'].length > caps.maxTools) hits.push({ cap: 'tools', message: `${body['tools'].length} tools are over the cap of ${caps.maxTools}` });
  if (caps.maxMessages !== undefined) {
    const list = body['messages'] ?? body['input'];
    if (Array.isArray(list) && list.length > caps.maxMessages) hits.push({ cap: 'messages', message: `${list.length} messages are over the cap of ${caps.maxMessages}` });
  }
  return { hits, clamped };
}
