// The audit log on its own thread (log-thread.ts + the built log-worker.mjs): the same chain, the
// same answers and the same error codes as the in-process writer, and a dead thread fails loudly.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPEND_WINDOW_MAX, logWorkerScript, openLogInThread } from './log-thread.ts';
import { BACKLOG_ENTRIES, openLog } from './log-writer.ts';
import { verifyLog } from './verifier.ts';
import { canonicalJson } from './jcs.ts';
import { verifyProofBundle, verifyConsistencyBundle } from './proof-bundle.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from './test-support.ts';
import type { LlmauditError } from '../errors.ts';
import type { AuditLog } from './log-writer.ts';

const keys = testKeys();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fresh(): Promise<string> {
  const t = await tempDir('llmaudit-thread-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function track(log: AuditLog): AuditLog {
  cleanups.push(() => log.close().catch(() => undefined));
  return log;
}

describe('openLogInThread', () => {
  it('finds the built writer thread', () => {
    expect(logWorkerScript()?.pathname).toMatch(/sidecar\/dist\/log-worker\.mjs$/);
  });

  it('appends in call order, mirrors size and stats, and writes a chain that verifies', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched' }));
    expect(log.size).toBe(0);
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(samplePayload(i))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(log.size).toBe(300);
    expect(log.stats()).toMatchObject({ size: 300, queueDepth: 0, segment: 1 });
    expect(log.stats().bytesWritten).toBeGreaterThan(300 * 500);

    const note = await log.checkpoint();
    expect(note.split('\n').slice(0, 2)).toEqual([TEST_ORIGIN, '300']);
    expect(log.latestCheckpoint()).toBe(note);
    await log.close();

    const lines = (await readFile(path.join(dir, 'seg-000001.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { hash: string }).hash)).toEqual(results.map((r) => r.hash));
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(Array.from({ length: 300 }, (_, i) => `req-${i}`));
    const report = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
    expect(report.exit).toBe(0);
    expect(report.entries).toBe(300);
  });

  it('answers proofs, flush and seal across the thread, and continues a chain the in-process writer began', async () => {
    const dir = await fresh();
    const inline = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    for (let i = 0; i < 5; i++) await inline.append(samplePayload(i));
    const first = await inline.checkpoint();
    await inline.close();

    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict' }));
    expect(log.size).toBe(5);
    expect(log.latestCheckpoint()).toBe(first);
    const a = await log.append(samplePayload(5));
    expect(a.seq).toBe(5);
    await log.flush();
    await log.seal();
    expect(log.stats().segment).toBe(2);
    await log.append(samplePayload(6));

    const inc = await log.inclusionProof(5);
    expect(verifyProofBundle(inc, [keys.verifier]).index).toBe(5);
    const cons = await log.consistencyProof(5);
    expect(verifyConsistencyBundle(first, cons, [keys.verifier])).toBe(true);
    await expect(log.inclusionProof(99)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_NOT_FOUND' });
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });

  it('batched: appends of one window travel together; a full window, a call or strict durability sends them at once', async () => {
    const log = track(await openLogInThread({ dir: await fresh(), origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched', appendWindowMs: 60_000 }));
    const settled: number[] = [];
    const first = [0, 1, 2].map((i) => log.append(samplePayload(i)).then((r) => (settled.push(r.seq), r)));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toEqual([]); // still on this thread, in the window
    await log.flush(); // a call sends what waits before it
    expect((await Promise.all(first)).map((r) => r.seq)).toEqual([0, 1, 2]);
    const full = await Promise.all(Array.from({ length: APPEND_WINDOW_MAX }, (_, i) => log.append(samplePayload(3 + i))));
    expect(full.at(-1)?.seq).toBe(2 + APPEND_WINDOW_MAX);
    await log.close();

    const strict = track(await openLogInThread({ dir: await fresh(), origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict', appendWindowMs: 60_000 }));
    expect((await strict.append(samplePayload(0))).seq).toBe(0);
  });

  it('strict: appends that reach the writer in separate messages of one turn share one fdatasync (group commit)', async () => {
    // Regression guard: with a blocking fdatasync, a batch cut at the first message paid one fdatasync per queued message.
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict' }));
    await log.append(samplePayload(0));
    const before = log.stats().syncs;
    expect(before).toBe(1);
    // A call after each append sends that append in a message of its own (log-thread.ts flushOutbox).
    const appends: Array<Promise<{ seq: number }>> = [];
    const calls: Array<Promise<void>> = [];
    for (let i = 1; i <= 50; i++) {
      appends.push(log.append(samplePayload(i)));
      calls.push(log.flush());
    }
    expect((await Promise.all(appends)).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await Promise.all(calls);
    // One message per append; the thread takes them in as they arrive: a few group commits, not 50.
    expect(log.stats().syncs - before).toBeGreaterThanOrEqual(1);
    expect(log.stats().syncs - before).toBeLessThan(10);
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' })).entries).toBe(51);
  });

  it('rejects a payload that cannot cross the thread or cannot be canonicalized, alone, with its code', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    const fn = { ...samplePayload(1), model: (() => 'x') as unknown as string };
    const big = { ...samplePayload(2), usage: { inputTokens: 10n as unknown as number, outputTokens: 1 } }; // clones, but is not JSON
    const outcomes = await Promise.allSettled([log.append(samplePayload(0)), log.append(fn), log.append(big), log.append(samplePayload(3))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' });
    const inProcess = await Promise.allSettled([(await openLog({ dir: await fresh(), origin: TEST_ORIGIN, signerKey: keys.signerKey })).append(big)]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: ((inProcess[0] as PromiseRejectedResult).reason as LlmauditError).code });
    expect(outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<{ seq: number }>).value.seq)).toEqual([0, 1]);
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).entries).toBe(2);
  });

  it('degradeRefused: a payload refused where it is built, or that cannot be cloned, is written degraded there and the answer says so', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, degradeRefused: true }));
    const fn = { ...samplePayload(1), model: (() => 'x') as unknown as string }; // cannot be cloned
    const lone = { ...samplePayload(2), model: 'm\ud800' }; // clones, but RFC 8785 cannot write it
    const results = await Promise.all([log.append(samplePayload(0)), log.append(fn), log.append(lone), log.append(samplePayload(3))]);
    expect(results.map((r) => r.degraded === undefined)).toEqual([true, false, false, true]);
    expect(results[1]?.degraded).toMatchObject({ withoutBodies: false, reason: expect.stringMatching(/could not be cloned/) as unknown });
    expect(results[2]?.degraded).toMatchObject({ withoutBodies: false, reason: expect.stringMatching(/surrogate/) as unknown });
    await log.close();
    const lines = (await readFile(path.join(dir, 'seg-000001.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; model: unknown; seq: number; degraded?: { code: string; pointers: string[] } });
    expect(lines.map((l) => l.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
    const byId = new Map(lines.map((l) => [l.id, l]));
    expect(byId.get('req-1')).toMatchObject({ model: null, degraded: { code: 'LLMAUDIT_E_ENTRY_DEGRADED', pointers: ['/model'] } });
    expect(byId.get('req-2')).toMatchObject({ model: 'm\ufffd', degraded: { code: 'LLMAUDIT_E_ENTRY_DEGRADED', pointers: ['/model'] } });
    expect(byId.get('req-0')?.degraded).toBeUndefined();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });

  it('passes the writer\'s open errors through with their codes (a second writer on a locked chain)', async () => {
    const dir = await fresh();
    track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    await expect(openLogInThread({ dir, origin: 'llmaudit.dev/other/pod/uid', signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_LOCKED' });
  });

  it('mirrors checkpoints the writer signs on its own (interval) and reports them', async () => {
    const dir = await fresh();
    let seen: (n: string) => void = () => undefined;
    const signed = new Promise<string>((r) => (seen = r));
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, checkpointIntervalMs: 20, onCheckpoint: (cp) => seen(cp.note) }));
    await log.append(samplePayload(0));
    const note = await signed;
    expect(note.split('\n')[1]).toBe('1');
    expect(log.latestCheckpoint()).toBe(note);
    expect(log.stats().lastCheckpointAt).not.toBeNull();
  });

  it('a writer thread that dies fails every waiting and later call with LLMAUDIT_E_LOG_FAILED, and says so once', async () => {
    // Regression guard: a dead writer thread must not leave appends hanging (the proxy awaits them).
    const dir = await fresh();
    const script = path.join(dir, 'dying-writer.mjs');
    await writeFile(
      script,
      `import { parentPort } from 'node:worker_threads';
parentPort.postMessage({ t: 'opened', state: { size: 0, segment: 1, bytesWritten: 0 }, checkpoint: null });
parentPort.on('message', (m) => { if (m.t === 'append') process.exit(3); });
`,
    );
    const bg: LlmauditError[] = [];
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, workerScript: script, onBackgroundError: (e) => bg.push(e) }));
    await expect(log.append(samplePayload(0))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_FAILED' });
    await expect(log.append(samplePayload(1))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_FAILED' });
    await expect(log.flush()).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_FAILED' });
    expect(bg.map((e) => e.code)).toEqual(['LLMAUDIT_E_LOG_FAILED']);
    expect(bg[0]?.message).toMatch(/exited with 3/);
    await log.close();
  });

  it('says it is behind while BACKLOG_ENTRIES appends wait, and not once they are written', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, signEntries: false }));
    expect(log.behind()).toBe(false);
    const all = Array.from({ length: BACKLOG_ENTRIES }, (_, i) => log.append(samplePayload(i, 20)));
    expect(log.behind()).toBe(true);
    await Promise.all(all);
    expect(log.behind()).toBe(false);
  });

  it('after close: appends reject with LLMAUDIT_E_LOG_CLOSED and the chain can be opened again', async () => {
    const dir = await fresh();
    const log = await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.append(samplePayload(0));
    await log.close();
    await log.close(); // idempotent
    await expect(log.append(samplePayload(1))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_CLOSED' });
    const again = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    expect(again.size).toBe(1);
  });
});

describe('openLogInThread: request bodies sent as their text (PayloadSource)', () => {
  // Members out of order, numbers in other spellings, escapes and non-ASCII text: what the writer
  // parses from the text must canonicalize exactly as the value parsed on the proxy's side does.
  const text = (i: number) => `{"z":1.50,"model":"m-${i}","messages":[{"role":"user","content":"caf\\u00e9 ${'é😀 '.repeat(50)}\\n${i}"}],"a":[1E2,-0,0.1,{"y":null,"x":true}]}`;
  const withBody = (i: number, body: string): ReturnType<typeof samplePayload> => {
    const p = samplePayload(i);
    p.request.body = JSON.parse(body) as unknown;
    return p;
  };
  const linesOf = async (dir: string) => (await readFile(path.join(dir, 'seg-000001.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { request: { body: unknown }; id: string });

  it('writes the same request bodies as when the parsed values are cloned, in call order among other appends, and leaves the caller\'s payload as it was', async () => {
    const cloned = await fresh();
    const sent = await fresh();
    const a = track(await openLogInThread({ dir: cloned, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    const b = track(await openLogInThread({ dir: sent, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    const payloads = Array.from({ length: 12 }, (_, i) => withBody(i, text(i)));
    await Promise.all(payloads.map((p) => a.append(p)));
    // Every other one with its text, in one window: sources and cloned bodies in the same message.
    const results = await Promise.all(payloads.map((p, i) => (i % 2 === 0 ? b.append(p, { requestBody: Buffer.from(text(i)) }) : b.append(p))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(payloads[0]?.request.body).toEqual(JSON.parse(text(0)));
    await a.close();
    await b.close();
    const x = await linesOf(cloned);
    const y = await linesOf(sent);
    expect(y.map((l) => l.id)).toEqual(x.map((l) => l.id));
    expect(y.map((l) => JSON.stringify(l.request.body))).toEqual(x.map((l) => JSON.stringify(l.request.body)));
    expect((await verifyLog(sent, { keys: [keys.verifier], entrySignatures: 'all' })).exit).toBe(0);
  });

  it('refuses a text that does not parse as a payload error (LLMAUDIT_E_LOG_PAYLOAD_INVALID) and goes on', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    const bad = log.append(withBody(0, text(0)), { requestBody: Buffer.from('{"model":') });
    const good = log.append(withBody(1, text(1)), { requestBody: Buffer.from(text(1)) });
    await expect(bad).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' });
    expect((await good).seq).toBe(0);
    await log.close();
    expect((await linesOf(dir)).map((l) => canonicalJson(l.request.body))).toEqual([canonicalJson(JSON.parse(text(1)))]);
  });

  it('a payload that cannot be cloned fails alone; a source in the same message still arrives', async () => {
    const dir = await fresh();
    const log = track(await openLogInThread({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey }));
    const broken = samplePayload(0) as unknown as { request: { headers: unknown } };
    broken.request.headers = () => undefined;
    const first = log.append(broken as unknown as ReturnType<typeof samplePayload>);
    const second = log.append(withBody(1, text(1)), { requestBody: Buffer.from(text(1)) });
    await expect(first).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' });
    expect((await second).seq).toBe(0);
    await log.close();
    expect(canonicalJson((await linesOf(dir))[0]?.request.body)).toBe(canonicalJson(JSON.parse(text(1))));
  });
});
