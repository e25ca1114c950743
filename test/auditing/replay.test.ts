// `llmaudit replay` on a log the real proxy wrote (streamed tool calls, a streamed final answer, a
// plain chat), against the replay upstream answering identically or drifting: the verdict, the exit
// status, the deterministic settings sent and the credential taken from the environment only.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../sidecar/src/auditlog/test-support.ts';
import type { Entry } from '../../sidecar/src/auditlog/types.ts';
import { runCli } from '../../sidecar/src/cli/program.ts';
import { planReplay } from '../../sidecar/src/audit-tools/replay.ts';
import { scriptedTurn, streamFrames } from '../../hack/scripted-upstream.ts';
import { startReplayUpstream, type RecordedRequest, type ReplayScript, type ReplayUpstream } from '../support/replay-upstream.ts';
import { recordLog } from './proxy-log.ts';

type ChatRequest = Parameters<typeof scriptedTurn>[0];
type Turn = ReturnType<typeof scriptedTurn>;

let root: string;
let cleanup: () => Promise<void>;
let chain: string;
let up: ReplayUpstream;
const entries: Entry[] = [];
const KEY = 'sk-replay-secret-from-env-9876';

async function llmaudit(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stderrIsTTY: false, env, cwd: root });
  return { code, stdout, stderr };
}

/** The scripted agent's answer, streamed as it was recorded, with `drift` applied to the turn. */
function streamed(drift: (t: Turn) => Turn = (t) => t): (req: RecordedRequest) => ReplayScript {
  return (req) => {
    const body = JSON.parse(req.body.toString('utf8')) as ChatRequest;
    return { headers: { 'content-type': 'text/event-stream' }, frames: streamFrames(body, drift(scriptedTurn(body)), 'chatcmpl-replayed', 1_790_000_999) };
  };
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('llmaudit-replay-'));
  chain = path.join(root, 'agent_0001');
  await mkdir(chain);
  await recordLog(chain, { conversations: 1, plainChats: 1, notFound: 1 });
  const { readChainEntries } = await import('../../sidecar/src/audit-tools/chains.ts');
  for await (const l of readChainEntries(chain)) entries.push(l.entry);
  up = await startReplayUpstream();
}, 60_000);

afterAll(async () => {
  await up.close();
  await cleanup();
});

describe('llmaudit replay', () => {
  it('a streamed tool call answered the same: identical, exit 0; sent with temperature 0, top_p 1, seed and the key from the environment', async () => {
    expect(entries[0]?.trace.spanType).toBe('TOOL_CALL');
    up.script(streamed());
    const before = up.requests.length;
    const r = await llmaudit(['replay', 'agent_0001', '--seq', '0', '--upstream', up.url, '--key-env', 'REPLAY_KEY'], { REPLAY_KEY: KEY });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('verdict: identical (same tool calls, same text)');
    expect(r.stdout).toMatch(/recorded: 200 llmaudit-scripted-1: tool calls get_weather\(\{"city":"Paris"\}\)/);
    const req = up.requests[before] as RecordedRequest;
    expect(req.url).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    const sent = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    expect(sent).toMatchObject({ temperature: 0, top_p: 1, seed: 0, stream: true });
    expect(sent.messages).toEqual((entries[0]?.request.body as { messages: unknown }).messages);
    expect(r.stdout).toContain('deterministic: temperature (unset) → 0, top_p (unset) → 1, seed (unset) → 0');
  });

  it('the same tool call with text besides it: same tool calls, different text, exit 1', async () => {
    // The scripted turn carries no text with its tool calls: add a text frame before them.
    up.script((req) => {
      const body = JSON.parse(req.body.toString('utf8')) as ChatRequest;
      const frames = streamFrames(body, scriptedTurn(body), 'x', 1);
      const extra = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'llmaudit-scripted-1', choices: [{ index: 0, delta: { content: 'Let me check.' }, finish_reason: null }] })}\n\n`;
      return { headers: { 'content-type': 'text/event-stream' }, frames: [frames[0] as string, extra, ...frames.slice(1)] };
    });
    const r = await llmaudit(['replay', 'agent_0001', '--seq', '0', '--upstream', up.url, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { verdict: string; replayed: { text: string } };
    expect(out.verdict).toBe('same-tool-calls');
    expect(out.replayed.text).toBe('Let me check.');
  });

  it('a drifting final answer (streamed) is different, exit 1; the same answer is identical', async () => {
    expect(entries[1]?.trace.spanType).toBe('FINAL_RESPONSE');
    up.script(streamed((t) => (t.kind === 'text' ? { kind: 'text', content: `${t.content} Bring an umbrella.` } : t)));
    const drift = await llmaudit(['replay', 'agent_0001', '--seq', '1', '--upstream', up.url, '--json']);
    expect(drift.code, drift.stderr).toBe(1);
    expect((JSON.parse(drift.stdout) as { verdict: string }).verdict).toBe('different');
    up.script(streamed());
    const same = await llmaudit(['replay', 'agent_0001', '--seq', '1', '--upstream', up.url]);
    expect(same.code, same.stdout).toBe(0);
  });

  it('a non-streamed chat answered with the recorded body is identical', async () => {
    const e = entries[2] as Entry;
    expect(e.response.streamed).toBe(false);
    up.script({ headers: { 'content-type': 'application/json' }, frames: [JSON.stringify(e.response.body)] });
    const r = await llmaudit(['replay', 'agent_0001', '--seq', '2', '--upstream', up.url]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('--dry-run sends nothing and masks the key; errors exit 2 or more', async () => {
    const before = up.requests.length;
    const dry = await llmaudit(['replay', 'agent_0001', '--seq', '0', '--upstream', up.url, '--key-env', 'REPLAY_KEY', '--dry-run', '--json'], { REPLAY_KEY: KEY });
    expect(dry.code).toBe(0);
    expect(dry.stdout).not.toContain(KEY);
    expect(JSON.parse(dry.stdout)).toMatchObject({ method: 'POST', url: `${up.url}/v1/chat/completions`, headers: { authorization: 'Bearer ***' }, body: { temperature: 0 } });
    expect(up.requests.length).toBe(before);

    const noKey = await llmaudit(['replay', 'agent_0001', '--seq', '0', '--upstream', up.url, '--key-env', 'REPLAY_KEY']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/LLMAUDIT_E_REPLAY_CREDENTIALS: .*REPLAY_KEY/);
    const get = await llmaudit(['replay', 'agent_0001', '--seq', '3', '--upstream', up.url]);
    expect(get.code).toBe(2);
    expect(get.stderr).toMatch(/LLMAUDIT_E_REPLAY_UNSUPPORTED/);
    const down = await llmaudit(['replay', 'agent_0001', '--seq', '0', '--upstream', 'http://127.0.0.1:1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/LLMAUDIT_E_REPLAY_UPSTREAM/);
    const missing = await llmaudit(['replay', 'agent_0001', '--seq', '99', '--upstream', up.url]);
    expect(missing.stderr).toMatch(/LLMAUDIT_E_LOG_NOT_FOUND/);
    expect(up.requests.length).toBe(before);
  });

  it('an entry whose request body was erased is refused, never sent', () => {
    // Regression: replay sent the erasure marker {"erased": {...}} to the provider as the request body.
    const recorded = entries[0] as Entry;
    const erased = { ...recorded, request: { ...recorded.request, body: { erased: { at: '2026-04-01T09:30:00.000Z', reason: 'GDPR art. 17', by: 'dpo' } } } } as Entry;
    expect(() => planReplay(erased, { upstream: up.url })).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_REPLAY_UNSUPPORTED', message: expect.stringMatching(/erased \(GDPR art\. 17/) as unknown }));
    expect(planReplay(recorded, { upstream: up.url }).body).toMatchObject({ temperature: 0 });
  });
});
