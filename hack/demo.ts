/**
 * `make demo`: the main job on a fresh machine, no cluster needed.
 *
 *  1. starts the real `llmaudit proxy` CLI (sidecar/dist/llmaudit.mjs, a child process) in front of
 *     a local Ollama if one answers on 127.0.0.1:11434, else in front of the bundled scripted
 *     upstream (hack/scripted-upstream.ts);
 *  2. runs a short tool-using conversation through it with the official `openai` SDK, streaming:
 *     user prompt → tool calls → tool results → final answer;
 *  3. stops the proxy with SIGTERM (it drains, seals a checkpoint, fsyncs);
 *  4. prints what was recorded, then runs `llmaudit verify` on the log and `llmaudit prove` +
 *     `llmaudit verify-proof` on one entry.
 *
 * Env: LLMAUDIT_DEMO_UPSTREAM=scripted|ollama (default: ollama when it answers), LLMAUDIT_DEMO_MODEL
 * (Ollama model; default the first that `ollama list` has), LLMAUDIT_DEMO_DIR (where the log goes;
 * default a new temp dir, kept so you can look at it). Exit 0 when everything verified.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { SCRIPTED_MODEL, startScriptedUpstream, type ScriptedUpstream } from './scripted-upstream.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'sidecar/dist/llmaudit.mjs');
const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: number) => (s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
const bold = paint(1);
const dim = paint(2);
const green = paint(32);
const red = paint(31);
const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (n: number, s: string) => say(`\n${bold(`${n}.`)} ${bold(s)}`);

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];
// The "tool": a table, so the demo needs no network.
const WEATHER: Record<string, { tempC: number; conditions: string }> = { paris: { tempC: 14, conditions: 'light rain' }, tokyo: { tempC: 21, conditions: 'clear' } };
function getWeather(args: string): string {
  let city = '?';
  try {
    city = String((JSON.parse(args) as { city?: unknown }).city ?? '?');
  } catch {
    /* a model may send broken JSON: answer anyway */
  }
  const w = WEATHER[city.toLowerCase()] ?? { tempC: 18, conditions: 'partly cloudy' };
  return JSON.stringify({ city, ...w });
}

async function ollamaModel(): Promise<string | null> {
  if (process.env.LLMAUDIT_DEMO_UPSTREAM === 'scripted') return null;
  try {
    const res = await fetch('http://127.0.0.1:11434/api/tags', { signal: AbortSignal.timeout(800) });
    if (!res.ok) return null;
    const tags = (await res.json()) as { models?: Array<{ name: string }> };
    return process.env.LLMAUDIT_DEMO_MODEL ?? tags.models?.[0]?.name ?? null;
  } catch {
    return null;
  }
}

interface Proxy {
  child: ChildProcess;
  port: number;
  chainDir: string;
  exited: Promise<number | null>;
}

async function startProxy(upstream: string, logDir: string): Promise<Proxy> {
  const child = spawn(process.execPath, [cli, 'proxy', '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', logDir], {
    cwd: logDir,
    env: { ...process.env, LLMAUDIT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Wait for the proxy's own banner (stderr) too, so its lines print before the conversation.
  let bannerSeen: () => void = () => undefined;
  const banner = new Promise<void>((r) => (bannerSeen = r));
  createInterface({ input: child.stderr! }).on('line', (l) => {
    say(dim(`   ${l}`));
    if (l.startsWith('llmaudit: proxy on ')) bannerSeen();
  });
  const started = new Promise<{ port: number; chainDir: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the proxy did not start within 15 s')), 15_000);
    void exited.then((code) => reject(new Error(`the proxy exited with status ${code} before it started`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      let rec: { msg?: string; listeners?: Array<{ port: number }>; chainDir?: string; level?: number };
      try {
        rec = JSON.parse(l) as typeof rec;
      } catch {
        return;
      }
      if ((rec.level ?? 0) >= 40) say(dim(`   proxy log: ${l}`));
      if (rec.msg === 'proxy started' && rec.listeners?.[0] !== undefined && rec.chainDir !== undefined) {
        clearTimeout(timer);
        resolve({ port: rec.listeners[0].port, chainDir: rec.chainDir });
      }
    });
  });
  try {
    const info = await started;
    await Promise.race([banner, new Promise((r) => setTimeout(r, 2000).unref())]);
    return { child, exited, ...info };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

type Msg = OpenAI.Chat.Completions.ChatCompletionMessageParam;

async function converse(client: OpenAI, model: string): Promise<void> {
  const messages: Msg[] = [
    { role: 'system', content: 'You are a concise weather assistant. Use the get_weather tool for every city asked about.' },
    { role: 'user', content: 'What is the weather in Paris and in Tokyo right now?' },
  ];
  say(`   ${bold('user')}      ${String(messages[1]?.content)}`);
  for (let turn = 0; turn < 4; turn++) {
    const { data: stream, response } = await client.chat.completions.create({ model, messages, tools: TOOLS, stream: true, stream_options: { include_usage: true } }).withResponse();
    const id = response.headers.get('x-llmaudit-id') ?? '?';
    let content = '';
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) content += delta.content;
      for (const tc of delta?.tool_calls ?? []) {
        const c = (calls[tc.index] ??= { id: '', name: '', arguments: '' });
        if (tc.id) c.id = tc.id;
        if (tc.function?.name) c.name += tc.function.name;
        if (tc.function?.arguments) c.arguments += tc.function.arguments;
      }
    }
    if (calls.length === 0) {
      say(`   ${bold('assistant')} ${content.trim()}  ${dim(`(x-llmaudit-id ${id})`)}`);
      return;
    }
    say(`   ${bold('assistant')} calls ${calls.map((c) => `${c.name}(${c.arguments})`).join(', ')}  ${dim(`(x-llmaudit-id ${id})`)}`);
    messages.push({ role: 'assistant', content: content === '' ? null : content, tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) });
    for (const c of calls) {
      const result = getWeather(c.arguments);
      say(`   ${bold('tool')}      ${c.name} → ${result}`);
      messages.push({ role: 'tool', tool_call_id: c.id, content: result });
    }
  }
  throw new Error('the model kept calling tools; stopping after 4 turns');
}

interface EntryLine {
  seq: number;
  ts: string;
  model: string | null;
  request: { method: string; path: string };
  response: { status: number; streamed: boolean; chunks: number; durationMs: number; complete: boolean };
  usage: { inputTokens: number | null; outputTokens: number | null };
  trace: { spanType: string; requestType?: string; toolCalls: Array<{ name: string }>; toolResults: unknown[]; traceId: string };
  hash: string;
}

function readEntries(chainDir: string): EntryLine[] {
  const segs = readdirSync(chainDir).filter((n) => /^seg-\d+\.jsonl$/.test(n)).sort();
  return segs.flatMap((s) => readFileSync(path.join(chainDir, s), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as EntryLine));
}

function summary(e: EntryLine): string {
  const tools = e.trace.toolCalls.length > 0 ? ` calls ${e.trace.toolCalls.map((t) => t.name).join(', ')}` : '';
  const results = e.trace.toolResults.length > 0 ? ` carries ${e.trace.toolResults.length} tool result${e.trace.toolResults.length === 1 ? '' : 's'}` : '';
  const cls = e.trace.requestType === undefined || e.trace.requestType === null ? e.trace.spanType : `${e.trace.requestType}→${e.trace.spanType}`;
  return `#${e.seq} ${e.ts.slice(11, 23)} ${e.request.method} ${e.request.path} ${e.model ?? '-'} → ${e.response.status}${e.response.streamed ? ` streamed ${e.response.chunks} chunks` : ''} ${cls}${tools}${results} tokens ${e.usage.inputTokens ?? '?'}/${e.usage.outputTokens ?? '?'} trace ${e.trace.traceId.slice(0, 8)} hash ${e.hash.slice(0, 12)}…`;
}

function run(args: string[], capture = false): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${r.stdout}${r.stderr}`.trimEnd();
  if (!capture && out !== '') for (const l of out.split('\n')) say(dim(`   ${l}`));
  return { status: r.status, stdout: r.stdout };
}

async function main(): Promise<number> {
  say(bold('llmaudit demo: a recorded, signed and provable agent run'));
  if (!existsSync(cli) || process.env.LLMAUDIT_DEMO_BUILD !== '0') spawnSync(process.execPath, [path.join(root, 'hack/build.mjs')], { stdio: 'inherit' });
  const logDir = process.env.LLMAUDIT_DEMO_DIR ?? mkdtempSync(path.join(tmpdir(), 'llmaudit-demo-'));
  const model = await ollamaModel();
  if (model !== null) {
    const code = await demo(model, path.join(logDir, 'ollama'));
    if (code !== 'model-failed') return code;
    say(`\n${bold('The Ollama model could not run the tool conversation: running it again against the scripted upstream.')}`);
  }
  const code = await demo(null, model === null ? logDir : path.join(logDir, 'scripted'));
  return code === 'model-failed' ? 1 : code;
}

async function demo(model: string | null, logDir: string): Promise<number | 'model-failed'> {
  const t0 = Date.now();
  mkdirSync(logDir, { recursive: true });
  step(1, 'Upstream');
  let scripted: ScriptedUpstream | null = null;
  let upstream: string;
  if (model !== null) {
    upstream = 'http://127.0.0.1:11434';
    say(`   Ollama answers on ${upstream}; model ${model} (set LLMAUDIT_DEMO_UPSTREAM=scripted to use the scripted one)`);
  } else {
    scripted = await startScriptedUpstream();
    upstream = scripted.url;
    say(`   no Ollama on 127.0.0.1:11434: using the bundled scripted upstream on ${upstream} (OpenAI chat API, streaming, tool calls)`);
  }

  step(2, `Start \`llmaudit proxy --upstream ${upstream}\``);
  const proxy = await startProxy(upstream, logDir);
  let entries: EntryLine[] = [];
  let failed = false;
  let exitCode: number | null = null;
  try {
    say(`   proxy on http://127.0.0.1:${proxy.port}; the app only changes its base URL`);
    step(3, 'A tool-using conversation through the proxy (openai SDK, streaming)');
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${proxy.port}/v1`, apiKey: 'sk-demo-not-a-real-key-1234', maxRetries: 0, timeout: 120_000 });
    try {
      await converse(client, model ?? SCRIPTED_MODEL);
    } catch (err) {
      // Not every Ollama model supports tools (Ollama answers 400 "does not support tools").
      if (model === null) throw err;
      say(red(`   ${(err as Error).message}`));
      failed = true;
    }
  } finally {
    step(4, 'Stop the proxy with SIGTERM (drain, seal a checkpoint, fsync)');
    proxy.child.kill('SIGTERM');
    exitCode = await proxy.exited;
    say(`   proxy exited with status ${exitCode}`);
    await scripted?.close();
  }
  if (exitCode !== 0) throw new Error(`the proxy exited with status ${exitCode}`);
  if (failed) return 'model-failed';

  step(5, `What was recorded in ${proxy.chainDir}`);
  entries = readEntries(proxy.chainDir);
  for (const e of entries) say(`   ${summary(e)}`);
  const raw = readFileSync(path.join(proxy.chainDir, readdirSync(proxy.chainDir).filter((n) => n.startsWith('seg-')).sort()[0] ?? ''), 'utf8');
  say(`   the API key is stored redacted: ${raw.includes('sk-demo-not-a-real-key-1234') ? red('NO: the key is on disk!') : green('yes (only "Bearer sk-...1234")')}`);

  const vkey = path.join(logDir, 'signing.vkey');
  step(6, `llmaudit verify ${proxy.chainDir} --key ${vkey}`);
  const verify = run(['verify', proxy.chainDir, '--key', vkey, '--no-progress']);

  const seq = entries.findIndex((e) => e.trace.toolCalls.length > 0);
  const pick = seq >= 0 ? seq : 0;
  const proofFile = path.join(logDir, `proof-${pick}.json`);
  step(7, `llmaudit prove --seq ${pick} (the ${entries[pick]?.trace.spanType ?? ''} exchange), then verify-proof with only the verifier key`);
  const prove = run(['prove', proxy.chainDir, '--seq', String(pick), '--json'], true);
  if (prove.status === 0) {
    writeFileSync(proofFile, prove.stdout);
    const b = JSON.parse(prove.stdout) as { treeSize: number; inclusionProof: string[]; rootHash: string };
    say(dim(`   proof: entry ${pick} in a tree of ${b.treeSize}, ${b.inclusionProof.length} hash${b.inclusionProof.length === 1 ? '' : 'es'} to root ${b.rootHash.slice(0, 16)}…, saved as ${proofFile}`));
  }
  const vp = prove.status === 0 ? run(['verify-proof', proofFile, '--key', vkey]) : { status: prove.status };

  const ok = verify.status === 0 && prove.status === 0 && vp.status === 0 && entries.length >= 2 && !raw.includes('sk-demo-not-a-real-key-1234');
  say();
  if (ok) say(green(bold(`OK: ${entries.length} exchanges recorded, the log verifies, and entry ${pick}'s inclusion proof verifies offline (${((Date.now() - t0) / 1000).toFixed(1)} s).`)));
  else say(red(bold(`FAILED: verify exit ${verify.status}, prove exit ${prove.status}, verify-proof exit ${vp.status}, ${entries.length} entries.`)));
  say(dim(`   log, keys and proof are kept in ${logDir}`));
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${red('demo failed:')} ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
