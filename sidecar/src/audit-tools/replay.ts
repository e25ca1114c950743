// Replaying a recorded exchange (docs/auditing.md "Replay"): the recorded request body is sent
// again to an upstream with the sampling made deterministic where the API allows it, and both
// answers are read through the same protocol adapter (adapters/create-adapter.ts), so a streamed
// answer is compared on its reconstructed message, never on frames. Planning and comparing are
// pure; only sendReplay does I/O. Credentials come from the caller (the environment), never from
// the log, which holds them redacted.
import { createAdapter } from '../adapters/index.ts';
import type { ApiKind, NormalizedExchange } from '../adapters/index.ts';
import { isErasedMarker } from '../auditlog/entry.ts';
import type { Entry } from '../auditlog/types.ts';
import { auditToolError } from './errors.ts';

const REPLAYABLE: ReadonlySet<string> = new Set(['openai.chat', 'openai.completions', 'openai.responses', 'openai.embeddings', 'anthropic.messages', 'ollama.chat', 'ollama.generate', 'ollama.embed']);
/** Recorded request headers that select API behaviour and are sent again (none carries a secret). */
const KEPT_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta'];

export interface ReplayPlan {
  seq: number;
  api: ApiKind;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** What was changed for determinism, e.g. `temperature 0.7 → 0`. */
  changes: string[];
}

export interface Answer {
  status: number;
  text: string | null;
  toolCalls: Array<{ name: string; arguments: string }>;
  finishReasons: string[];
  model: string | null;
}

export type Verdict = 'identical' | 'same-tool-calls' | 'different';

function setParam(obj: Record<string, unknown>, key: string, value: number, changes: string[], where = ''): void {
  if (obj[key] === value) return;
  changes.push(`${where}${key} ${obj[key] === undefined ? '(unset)' : JSON.stringify(obj[key])} → ${value}`);
  obj[key] = value;
}

/** The body with deterministic sampling: temperature 0, top_p 1 and a seed where the API has one. */
export function deterministicBody(api: ApiKind, recorded: Record<string, unknown>): { body: Record<string, unknown>; changes: string[] } {
  const body = structuredClone(recorded);
  const changes: string[] = [];
  switch (api) {
    case 'openai.chat':
    case 'openai.completions':
      setParam(body, 'temperature', 0, changes);
      setParam(body, 'top_p', 1, changes);
      setParam(body, 'seed', typeof recorded.seed === 'number' ? recorded.seed : 0, changes);
      break;
    case 'openai.responses':
      setParam(body, 'temperature', 0, changes);
      setParam(body, 'top_p', 1, changes);
      break;
    case 'anthropic.messages':
      // Anthropic has no seed; newer models refuse temperature and top_p together.
      setParam(body, 'temperature', 0, changes);
      if (body.top_p !== undefined) {
        changes.push(`top_p ${JSON.stringify(body.top_p)} → (unset)`);
        delete body.top_p;
      }
      break;
    case 'ollama.chat':
    case 'ollama.generate': {
      const options = typeof body.options === 'object' && body.options !== null ? (body.options as Record<string, unknown>) : {};
      body.options = options;
      setParam(options, 'temperature', 0, changes, 'options.');
      setParam(options, 'top_p', 1, changes, 'options.');
      setParam(options, 'seed', typeof options.seed === 'number' ? options.seed : 0, changes, 'options.');
      break;
    }
    default:
      break;
  }
  return { body, changes };
}

/** The request path as the API sees it: the proxy's routing prefix `/<endpoint>` removed. */
export function apiPath(entry: Entry): string {
  const p = entry.request.path;
  const prefix = `/${entry.endpoint}`;
  return p.startsWith(`${prefix}/`) ? p.slice(prefix.length) : p;
}

export function planReplay(entry: Entry, o: { upstream: string; credential?: string }): ReplayPlan {
  const api = entry.api as ApiKind;
  if (!REPLAYABLE.has(api)) throw auditToolError('LLMAUDIT_E_REPLAY_UNSUPPORTED', `seq ${entry.seq}: api ${entry.api} (only JSON APIs llmaudit reads can be replayed)`);
  const b = entry.request.body;
  if (isErasedMarker(b)) {
    throw auditToolError('LLMAUDIT_E_REPLAY_UNSUPPORTED', `seq ${entry.seq}: the request body was erased (${b.erased.reason}, ${b.erased.at}); there is nothing to send`);
  }
  if (entry.request.truncated === true || entry.request.encoding !== undefined || b === null || typeof b !== 'object' || Array.isArray(b)) {
    throw auditToolError('LLMAUDIT_E_REPLAY_UNSUPPORTED', `seq ${entry.seq}: the request body was not stored as JSON (capture mode ${entry.policy?.capture ?? '?'}${entry.request.truncated === true ? ', truncated' : ''})`);
  }
  if (JSON.stringify(b).includes('llmaudit-media:sha256:')) {
    throw auditToolError('LLMAUDIT_E_REPLAY_UNSUPPORTED', `seq ${entry.seq}: the request carries media moved to media/ files; replaying them is not supported`);
  }
  const { body, changes } = deterministicBody(api, b as Record<string, unknown>);
  const base = o.upstream.endsWith('/') ? o.upstream.slice(0, -1) : o.upstream;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(entry.request.headers ?? {})) if (KEPT_HEADERS.includes(k.toLowerCase())) headers[k.toLowerCase()] = v;
  if (o.credential !== undefined) {
    if (api === 'anthropic.messages') headers['x-api-key'] = o.credential;
    else headers.authorization = `Bearer ${o.credential}`;
  }
  if (api === 'anthropic.messages') headers['anthropic-version'] ??= '2023-06-01';
  return { seq: entry.seq, api, method: entry.request.method, url: `${base}${apiPath(entry)}`, headers, body, changes };
}

function answerOf(ex: NormalizedExchange, status: number): Answer {
  return { status, text: ex.outputText, toolCalls: ex.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })), finishReasons: ex.finishReasons, model: ex.responseModel };
}

/** The recorded answer, read from the stored (reconstructed) response body by the same adapter. */
export function recordedAnswer(entry: Entry): Answer {
  const adapter = createAdapter(entry.api as ApiKind, entry.request.body, { status: entry.response.status, contentType: 'application/json' });
  adapter.pushBody(Buffer.from(JSON.stringify(entry.response.body ?? null), 'utf8'));
  return answerOf(adapter.finish({ complete: true }), entry.response.status);
}

/** Sends the plan and reads the answer (streamed or not) through the adapter. */
export async function sendReplay(plan: ReplayPlan, timeoutMs = 120_000): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(plan.url, { method: plan.method, headers: plan.headers, body: JSON.stringify(plan.body), signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw auditToolError('LLMAUDIT_E_REPLAY_UPSTREAM', `${plan.method} ${plan.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err });
  }
  const adapter = createAdapter(plan.api, plan.body, { status: res.status, contentType: res.headers.get('content-type') });
  try {
    if (res.body !== null) for await (const chunk of res.body) adapter.push(chunk);
  } catch (err) {
    throw auditToolError('LLMAUDIT_E_REPLAY_UPSTREAM', `${plan.url}: the answer broke off: ${(err as Error).message}`, { cause: err });
  }
  return answerOf(adapter.finish({ complete: true }), res.status);
}

/** Tool-call arguments compared as JSON values (key order and spacing do not matter). */
function canonicalArgs(s: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(s) as unknown));
  } catch {
    return s;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

export function compareAnswers(recorded: Answer, replayed: Answer): Verdict {
  const calls = (a: Answer): string => JSON.stringify(a.toolCalls.map((c) => [c.name, canonicalArgs(c.arguments)]));
  const sameCalls = calls(recorded) === calls(replayed);
  const sameStatus = recorded.status === replayed.status;
  if (sameStatus && sameCalls && (recorded.text ?? '') === (replayed.text ?? '')) return 'identical';
  if (sameStatus && sameCalls && recorded.toolCalls.length > 0) return 'same-tool-calls';
  return 'different';
}
