/**
 * The text fields of a request or response body, per API family, each with its JSON Pointer
 * (RFC 6901) in the body: what the detectors read and what redaction rewrites. The places are the
 * adapters' (adapters/*.ts): messages and their content parts, system prompts, tool results and
 * tool-call arguments, `input`, `prompt`, `instructions`. A body of an unknown shape (opaque) has
 * every string leaf read, keys excluded.
 */
import type { ApiKind } from '../adapters/types.ts';
import { isRecord } from '../adapters/json-access.ts';

export interface TextField {
  /** JSON Pointer of the string in the body. */
  path: string;
  text: string;
}

type Sink = TextField[];

function text(out: Sink, v: unknown, path: string): void {
  if (typeof v === 'string' && v.length > 0) out.push({ path, text: v });
}

/** A content value: a string, or an array of parts (text parts; tool_result parts hold content). */
function content(out: Sink, v: unknown, path: string): void {
  if (typeof v === 'string') return text(out, v, path);
  if (!Array.isArray(v)) return;
  for (let j = 0; j < v.length; j++) {
    const part: unknown = v[j];
    const p = `${path}/${j}`;
    if (typeof part === 'string') text(out, part, p);
    else if (isRecord(part)) {
      text(out, part['text'], `${p}/text`);
      if (part['type'] === 'tool_result') content(out, part['content'], `${p}/content`);
      if (part['type'] === 'tool_use' && part['input'] !== undefined) strings(out, part['input'], `${p}/input`, 0);
    }
  }
}

function toolCalls(out: Sink, v: unknown, path: string): void {
  if (!Array.isArray(v)) return;
  for (let k = 0; k < v.length; k++) {
    const c: unknown = v[k];
    if (!isRecord(c)) continue;
    const fn = c['function'];
    if (isRecord(fn)) {
      if (typeof fn['arguments'] === 'string') text(out, fn['arguments'], `${path}/${k}/function/arguments`);
      else if (fn['arguments'] !== undefined) strings(out, fn['arguments'], `${path}/${k}/function/arguments`, 0);
    }
  }
}

function messages(out: Sink, v: unknown, path: string): void {
  if (!Array.isArray(v)) return;
  for (let i = 0; i < v.length; i++) {
    const m: unknown = v[i];
    if (!isRecord(m)) continue;
    const p = `${path}/${i}`;
    content(out, m['content'], `${p}/content`);
    toolCalls(out, m['tool_calls'], `${p}/tool_calls`);
  }
}

function stringOrList(out: Sink, v: unknown, path: string): void {
  if (typeof v === 'string') return text(out, v, path);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) text(out, v[i], `${path}/${i}`);
}

const MAX_DEPTH = 64;

/** Every string leaf (keys excluded), for bodies of no known shape and for tool arguments as objects. */
function strings(out: Sink, v: unknown, path: string, depth: number): void {
  if (typeof v === 'string') return text(out, v, path);
  if (depth >= MAX_DEPTH || typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) strings(out, v[i], `${path}/${i}`, depth + 1);
  else for (const k of Object.keys(v)) strings(out, (v as Record<string, unknown>)[k], `${path}/${escapePointer(k)}`, depth + 1);
}

export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Text fields of a request body. */
export function requestTextFields(api: ApiKind, body: unknown): TextField[] {
  const out: TextField[] = [];
  if (!isRecord(body)) {
    if (api === 'opaque') strings(out, body, '', 0);
    return out;
  }
  switch (api) {
    case 'openai.chat':
    case 'ollama.chat':
      messages(out, body['messages'], '/messages');
      break;
    case 'anthropic.messages':
      content(out, body['system'], '/system');
      messages(out, body['messages'], '/messages');
      break;
    case 'openai.responses': {
      text(out, body['instructions'], '/instructions');
      const input = body['input'];
      if (typeof input === 'string') text(out, input, '/input');
      else if (Array.isArray(input)) {
        for (let i = 0; i < input.length; i++) {
          const it: unknown = input[i];
          if (!isRecord(it)) continue;
          content(out, it['content'], `/input/${i}/content`);
          text(out, it['output'], `/input/${i}/output`); // function_call_output
          text(out, it['arguments'], `/input/${i}/arguments`); // function_call
        }
      }
      break;
    }
    case 'openai.completions':
      stringOrList(out, body['prompt'], '/prompt');
      break;
    case 'openai.embeddings':
    case 'ollama.embed':
      stringOrList(out, body['input'], '/input');
      text(out, body['prompt'], '/prompt'); // legacy /api/embeddings
      break;
    case 'ollama.generate':
      text(out, body['system'], '/system');
      text(out, body['prompt'], '/prompt');
      break;
    case 'opaque':
      strings(out, body, '', 0);
      break;
  }
  return out;
}

/** Text fields of a (reconstructed) response body. */
export function responseTextFields(api: ApiKind, body: unknown): TextField[] {
  const out: TextField[] = [];
  if (!isRecord(body)) return out;
  switch (api) {
    case 'openai.chat': {
      const choices = body['choices'];
      if (!Array.isArray(choices)) break;
      for (let i = 0; i < choices.length; i++) {
        const c: unknown = choices[i];
        if (!isRecord(c) || !isRecord(c['message'])) continue;
        content(out, c['message']['content'], `/choices/${i}/message/content`);
        toolCalls(out, c['message']['tool_calls'], `/choices/${i}/message/tool_calls`);
      }
      break;
    }
    case 'openai.completions': {
      const choices = body['choices'];
      if (Array.isArray(choices)) for (let i = 0; i < choices.length; i++) if (isRecord(choices[i])) text(out, (choices[i] as Record<string, unknown>)['text'], `/choices/${i}/text`);
      break;
    }
    case 'openai.responses': {
      const output = body['output'];
      if (!Array.isArray(output)) break;
      for (let i = 0; i < output.length; i++) {
        const it: unknown = output[i];
        if (!isRecord(it)) continue;
        content(out, it['content'], `/output/${i}/content`);
        text(out, it['arguments'], `/output/${i}/arguments`);
      }
      break;
    }
    case 'anthropic.messages':
      content(out, body['content'], '/content');
      break;
    case 'ollama.chat':
      if (isRecord(body['message'])) text(out, body['message']['content'], '/message/content');
      break;
    case 'ollama.generate':
      text(out, body['response'], '/response');
      break;
    default:
      break;
  }
  return out;
}
