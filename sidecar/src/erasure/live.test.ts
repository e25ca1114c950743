// POST /v1/erase on the admin server in front of a live writer: the bearer token is required, a bad
// request erases nothing, and an erasure while appends keep arriving leaves a log that verifies
// with the erased parts counted and every append in it.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { openLog } from '../auditlog/log-writer.ts';
import { verifyLog } from '../auditlog/verifier.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from '../auditlog/test-support.ts';
import { createAdminServer } from '../proxy/admin-server.ts';
import { liveEraser } from './live.ts';

const keys = testKeys();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

async function setup(): Promise<{ dir: string; base: string; log: Awaited<ReturnType<typeof openLog>> }> {
  const tmp = await tempDir('llmaudit-live-erase-');
  cleanups.push(tmp.cleanup);
  const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 8000 });
  cleanups.push(() => log.close());
  for (let i = 0; i < 12; i++) await log.append(samplePayload(i));
  const logger = { warn: () => undefined, error: () => undefined };
  const admin = createAdminServer({ address: '127.0.0.1', port: 0, registry: new Registry(), log: () => log, readiness: () => ({ ready: true, reasons: [] }), logger, erase: liveEraser(() => log, 's3cret-token') });
  const a = await admin.start();
  cleanups.push(() => admin.close());
  return { dir: tmp.dir, base: `http://127.0.0.1:${a.port}`, log };
}

function post(base: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${base}/v1/erase`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('POST /v1/erase', () => {
  it('refuses a missing or wrong token (401) and a bad request (400), erasing nothing', async () => {
    const { dir, base, log } = await setup();
    expect((await post(base, { seqs: [1], reason: 'r', by: 'dpo' })).status).toBe(401);
    expect((await post(base, { seqs: [1], reason: 'r', by: 'dpo' }, 'wrong')).status).toBe(401);
    const bad = await post(base, { seqs: [1], by: 'dpo' }, 's3cret-token');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'LLMAUDIT_E_ERASE_INVALID' } });
    expect((await post(base, '{', 's3cret-token')).status).toBe(400);
    expect((await fetch(`${base}/v1/erase`)).status).toBe(405);
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).erased.parts).toBe(0);
  });

  it('erases while appends keep arriving; every append is in the log, which verifies with the erased count', async () => {
    const { dir, base, log } = await setup();
    const appends = Array.from({ length: 30 }, (_, i) => log.append(samplePayload(100 + i)));
    const res = await post(base, { match: '.id == "req-3"', reason: 'GDPR art. 17', by: 'dpo@example.com' }, 's3cret-token');
    const more = Array.from({ length: 10 }, (_, i) => log.append(samplePayload(200 + i)));
    expect(res.status).toBe(200);
    const r = (await res.json()) as { recordSeq: number; entries: number; parts: number };
    expect(r).toMatchObject({ entries: 1, parts: 4 });
    const seqs = (await Promise.all([...appends, ...more])).map((a) => a.seq);
    expect(new Set(seqs).size).toBe(40);
    await log.close();
    const v = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
    expect(v.failure).toBeNull();
    expect(v.entries).toBe(12 + 40 + 1);
    expect(v.erased).toEqual({ parts: 4, entries: 1, records: [r.recordSeq] });
  });
});
