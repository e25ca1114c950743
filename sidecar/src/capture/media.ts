/**
 * Large base64 media move out of the stored request and response bodies into content-addressed
 * files `media/<sha256>.<ext>` beside the chain (docs/audit-log-format.md "The exchange"), replaced by a
 * placeholder string `llmaudit-media:sha256:<hex>` and listed in the entry's `media[]` with a JSON
 * pointer (RFC 6901) into the entry (`/request/body/...`, `/response/body/...`) to where they
 * were. Each side's `bodySha256` still covers the original bytes.
 *
 * Where the shapes carry base64:
 * - any string `data:<type>;base64,<payload>` (OpenAI `image_url.url`, Responses `input_image`,
 *   `input_file.file_data`, Ollama /v1 the same);
 * - Anthropic `source: {type: "base64", media_type, data}` (image and document blocks);
 * - OpenAI `input_audio: {data, format}`;
 * - Ollama `images: ["<base64>", ...]` on chat messages and /api/generate;
 * - responses: OpenAI Images `data[].b64_json`, Responses `image_generation_call.result`, and any
 *   of the above (e.g. `images` in an Ollama answer).
 * Pure: extractMedia() returns the rewritten body (copied only along changed paths) and the blobs.
 * Depth-bounded: nothing below MAX_JSON_DEPTH levels is visited, so no body can overflow the stack.
 */
import { createHash } from 'node:crypto';
import { MAX_JSON_DEPTH } from './stored-body.ts';

export interface MediaBlob {
  sha256: string;
  ext: string;
  mediaType: string;
  data: Buffer;
  pointer: string;
}

export interface MediaRef {
  sha256: string;
  path: string;
  mediaType: string;
  bytes: number;
  pointer: string;
}

const EXT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
};

export function extFor(mediaType: string): string {
  return EXT[mediaType.toLowerCase()] ?? 'bin';
}

/** Media type from magic bytes, for Ollama's bare base64 images. */
export function sniffMediaType(b: Buffer): string {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && b.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE') return 'audio/wav';
  if (b.length >= 4 && b.toString('latin1', 0, 4) === '%PDF') return 'application/pdf';
  return 'application/octet-stream';
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,/i;

export function placeholder(sha256: string): string {
  return `llmaudit-media:sha256:${sha256}`;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** `base`: the JSON pointer of `body` itself within the entry (e.g. `/request/body`). */
export function extractMedia(body: unknown, thresholdBytes: number, base = ''): { body: unknown; blobs: MediaBlob[] } {
  const blobs: MediaBlob[] = [];
  if (thresholdBytes <= 0 || body === null || typeof body !== 'object') return { body, blobs };
  // base64 is 4 chars per 3 bytes: skip strings that cannot decode above the threshold.
  const minChars = Math.floor((thresholdBytes * 4) / 3);

  const take = (payload: string, mediaType: string | null, pointer: string): string | null => {
    if (payload.length <= minChars || !BASE64.test(payload)) return null;
    const data = Buffer.from(payload, 'base64');
    if (data.length <= thresholdBytes) return null;
    const type = mediaType ?? sniffMediaType(data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    blobs.push({ sha256, ext: extFor(type), mediaType: type, data, pointer });
    return placeholder(sha256);
  };

  const visitString = (s: string, pointer: string, rawType: string | null): string | null => {
    if (s.length <= minChars) return null;
    if (s.startsWith('data:') || s.startsWith('DATA:')) {
      const m = DATA_URL.exec(s);
      if (m === null) return null;
      return take(s.slice(m[0].length), m[1] ?? 'application/octet-stream', pointer);
    }
    return rawType === null ? null : take(s, rawType === '' ? null : rawType, pointer);
  };

  // rawType: null = only data: URLs here; '' = bare base64 of unknown type; else its media type.
  // depth: bodies stored as JSON nest at most MAX_JSON_DEPTH levels (stored-body.ts); anything
  // deeper handed in is left as it is below that level rather than recursed into.
  const visit = (v: unknown, pointer: string, rawType: string | null, depth: number): unknown => {
    if (typeof v === 'string') {
      const r = visitString(v, pointer, rawType);
      return r === null ? v : r;
    }
    if (v === null || typeof v !== 'object' || depth > MAX_JSON_DEPTH) return v;
    if (Array.isArray(v)) {
      let out: unknown[] | null = null;
      for (let i = 0; i < v.length; i++) {
        const nv = visit(v[i], `${pointer}/${i}`, rawType, depth + 1);
        if (nv !== v[i]) {
          out ??= v.slice();
          out[i] = nv;
        }
      }
      return out ?? v;
    }
    const o = v as Record<string, unknown>;
    let out: Record<string, unknown> | null = null;
    for (const k of Object.keys(o)) {
      let childType: string | null = null;
      if (k === 'images' || k === 'b64_json') childType = ''; // Ollama; OpenAI Images API response
      else if (k === 'result' && o['type'] === 'image_generation_call') childType = ''; // Responses API image tool
      else if (k === 'data' && o['type'] === 'base64' && typeof o['media_type'] === 'string') childType = o['media_type']; // Anthropic source
      else if (k === 'data' && typeof o['format'] === 'string') childType = `audio/${o['format'] === 'mp3' ? 'mpeg' : o['format']}`; // OpenAI input_audio
      const nv = visit(o[k], `${pointer}/${escapePointer(k)}`, childType, depth + 1);
      if (nv !== o[k]) {
        out ??= { ...o };
        out[k] = nv;
      }
    }
    return out ?? o;
  };

  return { body: visit(body, base, null, 1), blobs };
}
