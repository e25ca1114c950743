// Logs for the auditor's tools, written by the real proxy: the scripted upstream (the demo's
// OpenAI-compatible agent), the official openai client, the real log writer with small segments so
// chains roll over. Each conversation is a streamed tool call then a streamed final answer; plain
// chats are not streamed; a GET the upstream does not serve records a 404.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { openLog, type AuditLog } from '../../sidecar/src/auditlog/index.ts';
import type { AppendResult, EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { testKeys, type TestKeys } from '../../sidecar/src/auditlog/test-support.ts';
import { SCRIPTED_MODEL, startScriptedUpstream } from '../../hack/scripted-upstream.ts';
import { startStack } from '../proxy/harness.ts';
import { Registry } from 'prom-client';
import { createTracer } from '../../sidecar/src/telemetry/otel-tracer.ts';
import { silentLogger, telemetryConfig } from '../tracing/exchange-builders.ts';

export interface RecordedLog {
  dir: string;
  origin: string;
  keys: TestKeys;
  vkeyFile: string;
  /** seqs of the tool-call exchanges, by conversation, in order. */
  conversations: number;
}

const CITIES = ['Paris', 'Tokyo', 'Lima', 'Oslo', 'Berlin', 'London'];
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
];

/** The real writer as the proxy's sink, awaiting each append. */
function sinkOf(log: AuditLog): { append: (p: EntryPayload) => Promise<AppendResult>; count: (n: number) => Promise<void> } {
  let n = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    async append(p) {
      const r = await log.append(p);
      n++;
      for (const w of waiters) if (n >= w.n) w.resolve();
      return r;
    },
    count: (want) => (n >= want ? Promise.resolve() : new Promise((resolve) => waiters.push({ n: want, resolve }))),
  };
}

export interface RecordOptions {
  conversations: number;
  plainChats?: number;
  notFound?: number;
  segmentMaxBytes?: number;
  origin?: string;
  keys?: TestKeys;
}

/** Runs traffic through the real proxy into `dir` and closes the log (which signs a checkpoint). */
export async function recordLog(dir: string, o: RecordOptions): Promise<RecordedLog> {
  const origin = o.origin ?? 'llmaudit.dev/audit/agent/0001';
  const keys = o.keys ?? testKeys(origin);
  const up = await startScriptedUpstream();
  const log = await openLog({ dir, origin, signerKey: keys.signerKey, segmentMaxBytes: o.segmentMaxBytes ?? 64 * 1024 * 1024 });
  const sink = sinkOf(log);
  // The real tracer (no exporter): it derives trace and conversation ids and span types.
  const tracer = createTracer({ telemetry: telemetryConfig(), resource: { serviceName: 'agent' }, registry: new Registry(), logger: silentLogger });
  const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { mode: 'full' } }, sink, chainDir: dir, tracer });
  const client = new OpenAI({ baseURL: `${s.base}/openai/v1`, apiKey: 'sk-test-not-a-real-key-0000', maxRetries: 0 });
  let sent = 0;
  try {
    for (let i = 0; i < o.conversations; i++) {
      const city = CITIES[i % CITIES.length] as string;
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
        { role: 'system', content: 'You are a weather assistant.' },
        { role: 'user', content: `What is the weather in ${city}? (run ${i})` },
      ];
      const first = await client.chat.completions.create({ model: SCRIPTED_MODEL, messages, tools: TOOLS, stream: true, stream_options: { include_usage: true } });
      const calls: Array<{ id: string; name: string; arguments: string }> = [];
      for await (const chunk of first) {
        for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
          const c = (calls[tc.index] ??= { id: '', name: '', arguments: '' });
          if (tc.id) c.id = tc.id;
          if (tc.function?.name) c.name += tc.function.name;
          if (tc.function?.arguments) c.arguments += tc.function.arguments;
        }
      }
      await sink.count(++sent);
      messages.push({ role: 'assistant', content: null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) });
      for (const c of calls) messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify({ city, tempC: 14 + i, conditions: 'clear' }) });
      const final = await client.chat.completions.create({ model: SCRIPTED_MODEL, messages, tools: TOOLS, stream: true, stream_options: { include_usage: true } });
      for await (const _ of final) void _;
      await sink.count(++sent);
    }
    for (let i = 0; i < (o.plainChats ?? 0); i++) {
      await client.chat.completions.create({ model: SCRIPTED_MODEL, messages: [{ role: 'user', content: `Say hello number ${i}` }] });
      await sink.count(++sent);
    }
    for (let i = 0; i < (o.notFound ?? 0); i++) {
      await (await fetch(`${s.base}/openai/v1/files`)).text();
      await sink.count(++sent);
    }
  } finally {
    await s.close();
    await up.close();
    await tracer.close();
    await log.close();
  }
  const vkeyFile = path.join(path.dirname(dir), `${path.basename(dir)}.vkey`);
  await writeFile(vkeyFile, `${keys.verifierKey}\n`);
  return { dir, origin, keys, vkeyFile, conversations: o.conversations };
}
