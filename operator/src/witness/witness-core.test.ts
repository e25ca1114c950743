import { describe, expect, it } from 'vitest';
import { generateSignerKey } from '@llmaudit/sidecar/auditlog';
import { parseAddCheckpoint } from '@llmaudit/sidecar/witness';
import type { WitnessedHead } from './heads.ts';
import { testLog } from './test-log.ts';
import { decideAddCheckpoint, type WitnessOutcome } from './witness-core.ts';

const ORIGIN = 'llmaudit.dev/ns/agent-1/0b5c7e6e';
const NOW = '2026-12-07T02:00:00Z';

function witness(verifier = testLog(ORIGIN).verifier) {
  const heads: Record<string, WitnessedHead> = {};
  return {
    heads,
    push(body: string | Uint8Array, v = verifier): WitnessOutcome {
      const o = decideAddCheckpoint(typeof body === 'string' ? Buffer.from(body) : body, { verifier: v, headOf: (origin) => heads[origin], policy: 'policy', now: NOW });
      if (o.status === 200) heads[o.origin] = o.head;
      return o;
    },
  };
}

describe('add-checkpoint request body (C2SP tlog-witness)', () => {
  it('parses the old size line, the proof lines, the empty line and the note', async () => {
    const log = testLog(ORIGIN);
    log.grow(5);
    const body = await log.body(3);
    const req = parseAddCheckpoint(Buffer.from(body));
    expect(req.oldSize).toBe(3);
    expect(req.proof.length).toBeGreaterThan(0);
    expect(req.note).toBe(log.checkpoint());
    expect(body.startsWith('old 3\n')).toBe(true);
    expect(body).toContain(`\n\n${ORIGIN}\n5\n`);
  });

  it.each([
    ['no old line', 'example\n'],
    ['leading zero', 'old 03\n\nx\n'],
    ['missing space', 'old3\n\nx\n'],
    ['proof line not base64 of 32 bytes', 'old 1\nAAAA\n\nx\n'],
    ['no empty line', 'old 0\n'],
    ['no checkpoint', 'old 0\n\n'],
  ])('refuses a malformed body: %s', (_what, body) => {
    expect(() => parseAddCheckpoint(Buffer.from(body))).toThrow();
  });

  it('refuses more than 63 proof lines', () => {
    const line = `${Buffer.alloc(32).toString('base64')}\n`;
    expect(() => parseAddCheckpoint(Buffer.from(`old 1\n${line.repeat(64)}\nx\n`))).toThrow(/63/);
  });
});

describe('witness decisions (C2SP tlog-witness status codes)', () => {
  it('cosigns the first checkpoint of an origin with old 0, then grows it with a consistency proof (200)', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(7);
    const first = w.push(await log.body(0));
    expect(first.status).toBe(200);
    log.grow(13);
    const second = w.push(await log.body(7));
    expect(second).toMatchObject({ status: 200, head: { size: 20, rootHash: log.root().toString('base64'), pod: 'agent-1', podUid: '0b5c7e6e', policy: 'policy', recent: [{ size: 7 }] } });
  });

  it('answers 409 with the size it knows when old does not match, and the client can retry with it', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(4);
    w.push(await log.body(0));
    log.grow(4);
    const stale = w.push(await log.body(0));
    expect(stale).toMatchObject({ status: 409, knownSize: 4 });
    expect('refusal' in stale && stale.refusal).toBeFalsy();
    expect(w.push(await log.body(4)).status).toBe(200);
  });

  it('answers 403 for a checkpoint signed by another key (a wrong key), never looking at its heads', async () => {
    const log = testLog(ORIGIN);
    const other = testLog(ORIGIN, generateSignerKey('llmaudit.dev/ns/policy'));
    const w = witness(log.verifier);
    other.grow(3);
    expect(w.push(await other.body(0)).status).toBe(403);
    expect(w.heads).toEqual({});
  });

  it('answers 400 when old is above the checkpoint size, and for a malformed checkpoint', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(3);
    expect(w.push(`old 5\n\n${log.checkpoint()}`).status).toBe(400);
    expect(w.push('old 0\n\nnot a note\n').status).toBe(400);
  });

  it('answers 422 for a tampered consistency proof and records the log as inconsistent', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(6);
    w.push(await log.body(0));
    log.grow(5);
    const req = parseAddCheckpoint(Buffer.from(await log.body(6)));
    const tampered = req.proof.map((h, i) => (i === 0 ? Buffer.from(h.map((b) => b ^ 1)) : h));
    const o = w.push(await log.body(6, undefined, { proof: tampered }));
    expect(o).toMatchObject({ status: 422, refusal: { kind: 'inconsistent', size: 11 } });
    expect(w.heads[ORIGIN]?.size).toBe(6);
  });

  it('answers 422 when a rewritten log (same key) cannot prove consistency with the witnessed head: a fork', async () => {
    const keys = generateSignerKey('llmaudit.dev/ns/policy');
    const honest = testLog(ORIGIN, keys);
    const w = witness(honest.verifier);
    honest.grow(8);
    w.push(await honest.body(0));
    const rewritten = testLog(ORIGIN, keys);
    rewritten.grow(5);
    rewritten.grow(10, 'rewritten');
    expect(w.push(await rewritten.body(8))).toMatchObject({ status: 422, refusal: { kind: 'inconsistent' } });
  });

  it('answers 409 and records a fork for another root at the witnessed size', async () => {
    const keys = generateSignerKey('llmaudit.dev/ns/policy');
    const honest = testLog(ORIGIN, keys);
    const w = witness(honest.verifier);
    honest.grow(8);
    w.push(await honest.body(0));
    const forked = testLog(ORIGIN, keys);
    forked.grow(8, 'fork');
    expect(w.push(await forked.body(8))).toMatchObject({ status: 409, knownSize: 8, refusal: { kind: 'fork', size: 8 } });
  });

  it('refuses a truncated log (a smaller tree than one witnessed) as a rollback', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(10);
    w.push(await log.body(0));
    log.grow(10);
    w.push(await log.body(10));
    // The log lost entries 12.. and signs again: its checkpoint is smaller than the witnessed head.
    expect(w.push(await log.body(0, 12))).toMatchObject({ status: 409, knownSize: 20, refusal: { kind: 'rollback', size: 12 } });
  });

  it('treats a replayed old checkpoint the witness once held as a stale retry: 409, not a rollback', async () => {
    const log = testLog(ORIGIN);
    const w = witness(log.verifier);
    log.grow(10);
    const first = await log.body(0);
    w.push(first);
    log.grow(2);
    w.push(await log.body(10));
    const replay = w.push(first);
    expect(replay).toMatchObject({ status: 409, knownSize: 12 });
    expect('refusal' in replay && replay.refusal).toBeFalsy();
    // The same head again, with the right old size: cosigned again (same tree, new time).
    expect(w.push(await log.body(12)).status).toBe(200);
  });

  it('keeps the heads of different origins apart', async () => {
    const keys = generateSignerKey('llmaudit.dev/ns/policy');
    const a = testLog(ORIGIN, keys);
    const b = testLog('llmaudit.dev/ns/agent-2/77aa', keys);
    const w = witness(a.verifier);
    a.grow(3);
    b.grow(9);
    expect(w.push(await a.body(0)).status).toBe(200);
    expect(w.push(await b.body(0)).status).toBe(200);
    expect(Object.fromEntries(Object.entries(w.heads).map(([k, h]) => [k, h.size]))).toEqual({ [ORIGIN]: 3, 'llmaudit.dev/ns/agent-2/77aa': 9 });
  });
});
