/**
 * A stand-in for a model when no Ollama answers on 127.0.0.1:11434 (`make demo`): a real HTTP
 * server speaking the OpenAI chat-completions API (https://platform.openai.com/docs/api-reference/chat)
 * with a fixed agent script, streamed as SSE `data:` frames ending in `data: [DONE]`:
 *
 *   user prompt                      → the assistant calls get_weather once per city it finds
 *   request carrying tool results    → the final answer, built from those results
 *   anything else                    → a short plain answer
 *
 * Deterministic (same request → same bytes) so the demo's output is the same on every machine.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SCRIPTED_MODEL = 'llmaudit-scripted-1';
const CITIES = ['Paris', 'Tokyo', 'Lima', 'Nairobi', 'Oslo', 'Berlin', 'London', 'New York'];

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
}
interface ChatRequest {
  model?: string;
  stream?: boolean;
  messages?: ChatMessage[];
  tools?: Array<{ function?: { name?: string } }>;
  stream_options?: { include_usage?: boolean };
}

const text = (c: unknown): string => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (p as { text?: string }).text ?? '').join('') : '');
const tokens = (s: string) => Math.max(1, Math.ceil(s.length / 4));

type Turn = { kind: 'tools'; calls: Array<{ id: string; name: string; arguments: string }> } | { kind: 'text'; content: string };

/** The script: a pure function of the request. */
export function scriptedTurn(req: ChatRequest): Turn {
  const messages = req.messages ?? [];
  const results = messages.filter((m) => m.role === 'tool');
  const toolName = req.tools?.[0]?.function?.name;
  if (results.length > 0) {
    const parts = results.map((r) => {
      try {
        const v = JSON.parse(text(r.content)) as { city?: string; tempC?: number; conditions?: string };
        return `${v.city ?? '?'}: ${v.conditions ?? '?'}, ${v.tempC ?? '?'} °C`;
      } catch {
        return text(r.content);
      }
    });
    return { kind: 'text', content: `Here is the weather you asked for. ${parts.join('; ')}.` };
  }
  const user = text([...messages].reverse().find((m) => m.role === 'user')?.content);
  const cities = CITIES.filter((c) => user.toLowerCase().includes(c.toLowerCase()));
  if (toolName !== undefined && cities.length > 0) {
    return { kind: 'tools', calls: cities.map((city, i) => ({ id: `call_${i + 1}_${city.toLowerCase().replace(/\s/g, '')}`, name: toolName, arguments: JSON.stringify({ city }) })) };
  }
  return { kind: 'text', content: 'I am a scripted model: ask me about the weather in Paris or Tokyo.' };
}

function promptTokens(req: ChatRequest): number {
  return tokens(JSON.stringify(req.messages ?? []));
}

function completion(req: ChatRequest, turn: Turn, id: string, created: number) {
  const message = turn.kind === 'text' ? { role: 'assistant', content: turn.content } : { role: 'assistant', content: null, tool_calls: turn.calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) };
  const out = turn.kind === 'text' ? tokens(turn.content) : turn.calls.reduce((n, c) => n + tokens(c.arguments) + 4, 0);
  const p = promptTokens(req);
  return {
    id,
    object: 'chat.completion',
    created,
    model: req.model ?? SCRIPTED_MODEL,
    choices: [{ index: 0, message, finish_reason: turn.kind === 'text' ? 'stop' : 'tool_calls' }],
    usage: { prompt_tokens: p, completion_tokens: out, total_tokens: p + out },
  };
}

/** The SSE frames of a streamed turn (chat.completion.chunk objects). */
export function streamFrames(req: ChatRequest, turn: Turn, id: string, created: number): string[] {
  const model = req.model ?? SCRIPTED_MODEL;
  const chunk = (delta: object, finish: string | null = null) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const frames: object[] = [chunk({ role: 'assistant', content: turn.kind === 'text' ? '' : null })];
  if (turn.kind === 'text') {
    for (const word of turn.content.match(/\S+\s*/g) ?? []) frames.push(chunk({ content: word }));
    frames.push(chunk({}, 'stop'));
  } else {
    turn.calls.forEach((c, index) => {
      frames.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
      // Arguments arrive in pieces, as real models send them.
      for (let i = 0; i < c.arguments.length; i += 8) frames.push(chunk({ tool_calls: [{ index, function: { arguments: c.arguments.slice(i, i + 8) } }] }));
    });
    frames.push(chunk({}, 'tool_calls'));
  }
  if (req.stream_options?.include_usage === true) {
    const usage = completion(req, turn, id, created).usage;
    frames.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  }
  return [...frames.map((f) => `data: ${JSON.stringify(f)}\n\n`), 'data: [DONE]\n\n'];
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 4 * 1024 * 1024) throw new Error('request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse, counter: { n: number }): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: SCRIPTED_MODEL, object: 'model', created: 0, owned_by: 'llmaudit' }] });
  if (req.method !== 'POST' || path !== '/v1/chat/completions') return json(res, 404, { error: { message: `the scripted upstream serves POST /v1/chat/completions, not ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
  let body: ChatRequest;
  try {
    body = JSON.parse(await readBody(req)) as ChatRequest;
  } catch {
    return json(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error', code: null } });
  }
  counter.n++;
  const id = `chatcmpl-scripted-${counter.n}`;
  const created = 1_790_000_000 + counter.n;
  const turn = scriptedTurn(body);
  if (body.stream !== true) return json(res, 200, completion(body, turn, id, created));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const frame of streamFrames(body, turn, id, created)) {
    if (!res.write(frame)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

export interface ScriptedUpstream {
  url: string;
  close(): Promise<void>;
}

export async function startScriptedUpstream(host = '127.0.0.1'): Promise<ScriptedUpstream> {
  const counter = { n: 0 };
  const server: Server = createServer((req, res) => {
    handle(req, res, counter).catch(() => {
      if (!res.headersSent) json(res, 500, { error: { message: 'scripted upstream failed', type: 'server_error', code: null } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
