/** Narrowing helpers for untrusted JSON (request and response bodies are never trusted). */

export type JsonObject = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asRecord(v: unknown): JsonObject {
  return isRecord(v) ? v : {};
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** JSON text of tool arguments: strings pass through (OpenAI), objects are stringified (Ollama). */
export function jsonText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) return '{}';
  try {
    return JSON.stringify(v) ?? '{}';
  } catch {
    return '{}';
  }
}

/**
 * Text of a message `content`: a string, or an array of parts whose text parts are joined
 * (OpenAI `{type:'text'|'input_text'|'output_text', text}`, Anthropic `{type:'text', text}`).
 * Non-text parts (images, audio) contribute nothing. null when there is no text at all.
 */
export function contentText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    else if (isRecord(part) && typeof part['text'] === 'string') texts.push(part['text']);
  }
  return texts.length === 0 ? null : texts.join('\n');
}
