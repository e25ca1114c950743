// Base64 media in responses (docs/audit-log-format.md "The exchange": base64 media above a threshold moved
// to media/<sha256>.<ext>): generated images come back as OpenAI Images `b64_json` and as a
// Responses API `image_generation_call` result; both leave the stored response for a media file,
// while the client gets the bytes unchanged.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { startReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, startStack, useCleanups } from './harness.ts';

const { cleanups } = useCleanups();

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(6000, 9)]);
const SHA = createHash('sha256').update(PNG).digest('hex');
const B64 = PNG.toString('base64');

async function setup(script: Parameters<typeof startReplayUpstream>[0], mode = 'full'): Promise<{ base: string; sink: MemorySink; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'llmaudit-media-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const up = await startReplayUpstream(script);
  cleanups.push(() => up.close());
  const sink = new MemorySink();
  const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { mediaThresholdBytes: 1024, mode } }, sink, chainDir: dir });
  cleanups.push(() => s.close());
  return { base: s.base, sink, dir };
}

describe('media in responses', () => {
  it('moves OpenAI Images b64_json out of the stored response; the client gets it whole', async () => {
    const answer = JSON.stringify({ created: 1, data: [{ b64_json: B64, revised_prompt: 'a red square' }], usage: { input_tokens: 5, output_tokens: 1056, total_tokens: 1061 } });
    const { base, sink, dir } = await setup({ frames: [answer], headers: { 'content-type': 'application/json' } });
    const res = await fetch(`${base}/openai/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-image-1","prompt":"a red square"}' });
    expect(await res.text()).toBe(answer);
    await sink.count(1);
    const e = sink.entries[0] as EntryPayload;
    expect(e.media).toEqual([{ sha256: SHA, path: `media/${SHA}.png`, mediaType: 'image/png', bytes: PNG.length, pointer: '/response/body/data/0/b64_json' }]);
    expect(e.response.body).toEqual({ created: 1, data: [{ b64_json: `llmaudit-media:sha256:${SHA}`, revised_prompt: 'a red square' }], usage: { input_tokens: 5, output_tokens: 1056, total_tokens: 1061 } });
    expect(e.response.bodySha256).toBe(createHash('sha256').update(answer).digest('hex')); // still the bytes sent
    expect((await readFile(join(dir, 'media', `${SHA}.png`))).equals(PNG)).toBe(true);
  });

  it('moves a streamed Responses image_generation_call result out of the reconstructed response', async () => {
    const item = { id: 'ig_1', type: 'image_generation_call', status: 'completed', result: B64 };
    const response = { id: 'resp_1', object: 'response', created_at: 1, status: 'completed', model: 'gpt-4.1', output: [item], usage: { input_tokens: 3, output_tokens: 7, total_tokens: 10 } };
    const frames = [
      `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', output: [], usage: null } })}\n\n`,
      `event: response.output_item.done\ndata: ${JSON.stringify({ type: 'response.output_item.done', sequence_number: 1, output_index: 0, item })}\n\n`,
      `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 2, response })}\n\n`,
    ];
    const { base, sink } = await setup({ frames, headers: { 'content-type': 'text/event-stream' } });
    const res = await fetch(`${base}/openai/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4.1', input: 'draw', stream: true, tools: [{ type: 'image_generation' }] }) });
    expect(await res.text()).toBe(frames.join(''));
    await sink.count(1);
    const e = sink.entries[0] as EntryPayload;
    expect(e.api).toBe('openai.responses');
    expect(e.media).toEqual([{ sha256: SHA, path: `media/${SHA}.png`, mediaType: 'image/png', bytes: PNG.length, pointer: '/response/body/output/0/result' }]);
    expect(JSON.stringify(e.response.body)).not.toContain(B64.slice(0, 64));
    expect(e.usage).toMatchObject({ inputTokens: 3, outputTokens: 7 });
  });

  it('metadata mode moves nothing and stores no media', async () => {
    const answer = JSON.stringify({ created: 1, data: [{ b64_json: B64 }] });
    const { base, sink, dir } = await setup({ frames: [answer], headers: { 'content-type': 'application/json' } }, 'metadata');
    await (await fetch(`${base}/openai/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-image-1","prompt":"x"}' })).text();
    await sink.count(1);
    expect(sink.entries[0]?.media).toEqual([]);
    expect(sink.entries[0]?.response.body).toBeNull();
    await expect(readFile(join(dir, 'media', `${SHA}.png`))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
