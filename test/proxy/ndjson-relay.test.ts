// NDJSON (Ollama /api/chat) reaches the client line by line as the upstream sends it, never
// buffered whole (the SSE case is in forwarding.test.ts), in both durability
// modes, and the entry still holds the reconstructed answer and Ollama's own counts.
import { describe, expect, it } from 'vitest';
import { loadWireFixture, startReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, startStack, useCleanups } from './harness.ts';

const { cleanups } = useCleanups();

describe('NDJSON relay', () => {
  it.each(['batched', 'strict'])('delivers the first NDJSON line before the upstream sends the rest (%s)', async (durability) => {
    const fx = loadWireFixture('ollama-chat-stream-final');
    expect(fx.frames.length).toBeGreaterThan(2);
    const up = await startReplayUpstream(fx.script);
    cleanups.push(() => up.close());
    up.gate(1);
    const sink = new MemorySink();
    const s = await startStack({ config: { endpoints: [{ name: 'ollama', upstream: up.url, api: 'ollama' }], log: { durability } }, sink });
    cleanups.push(() => s.close());
    const res = await fetch(`${s.base}/ollama${fx.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fx.request) });
    expect(res.headers.get('content-type')).toBe(fx.contentType);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe((fx.frames[0] as Buffer).toString());
    expect(up.responses[0]?.written).toBe(1); // the upstream is still holding line 1
    up.release(1);
    const rest: Buffer[] = [];
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) rest.push(Buffer.from(r.value));
    expect(Buffer.concat([Buffer.from(first.value as Uint8Array), ...rest]).equals(fx.body)).toBe(true);
    await sink.count(1);
    const e = sink.entries[0];
    expect(e?.response).toMatchObject({ streamed: true, complete: true });
    expect(e?.usage.inputTokens).toBeGreaterThan(0);
    expect(e?.usage.outputTokens).toBeGreaterThan(0);
  });
});
