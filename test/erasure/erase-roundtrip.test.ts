// Erasure on logs the real proxy wrote (official openai client → proxy → replaying upstream → the
// real writer): erase by seq, conversation and filter with `llmaudit erase`, verify reports the
// erased parts (exit 0), tampering with an erased entry is caught (3), media of erased entries are
// deleted, and inclusion proofs made before the erasure still verify after it.
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSignerKey, openLog, parseVerifierKey, verifyLog, type Entry, type InclusionProofBundle } from '../../sidecar/src/auditlog/index.ts';
import { verifyProofBundle } from '../../sidecar/src/auditlog/proof-bundle.ts';
import { runCli } from '../../sidecar/src/cli/program.ts';
import { startReplayUpstream } from '../support/replay-upstream.ts';
import { startStack } from '../proxy/harness.ts';
import { createTracer } from '../../sidecar/src/telemetry/otel-tracer.ts';
import { Registry } from 'prom-client';
import { silentLogger, telemetryConfig } from '../tracing/exchange-builders.ts';

const ORIGIN = 'llmaudit.dev/test/erase/0001';
const keys = generateSignerKey(ORIGIN);
const verifier = parseVerifierKey(keys.verifierKey);
let root: string;
let pristine: string;
const proofs: InclusionProofBundle[] = [];
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4000, 7)]);

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), stderrIsTTY: false, cwd: root, env: {} });
  return { code, out, err };
}

async function entries(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-')).sort()) {
    for (const l of (await readFile(path.join(dir, f), 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as Entry);
  }
  return out;
}

let n = 0;
async function copy(): Promise<string> {
  const dir = path.join(root, `case-${n++}`);
  await cp(pristine, dir, { recursive: true });
  return dir;
}

/** The segment file and line index holding `seq`. */
async function lineOf(dir: string, seq: number): Promise<{ file: string; lines: string[]; i: number }> {
  for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-')).sort()) {
    const file = path.join(dir, f);
    const lines = (await readFile(file, 'utf8')).split('\n');
    const i = lines.findIndex((l) => l !== '' && (JSON.parse(l) as Entry).seq === seq);
    if (i >= 0) return { file, lines, i };
  }
  throw new Error(`seq ${seq} not found`);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'llmaudit-erase-rt-'));
  pristine = path.join(root, 'pristine');
  const answer = (text: string): string => JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } });
  const up = await startReplayUpstream({ frames: [answer('Noted, Alice.')], headers: { 'content-type': 'application/json' } });
  const log = await openLog({ dir: pristine, origin: ORIGIN, signerKey: keys.signerKey, durability: 'strict', segmentMaxBytes: 6000 });
  // The tracer derives each exchange's conversationId (no collector: spans go nowhere).
  const tracer = createTracer({ telemetry: telemetryConfig(), resource: { serviceName: 'app' }, registry: new Registry(), logger: silentLogger });
  const stack = await startStack({ tracer, config: { endpoints: [{ name: 'openai', upstream: `${up.url}/v1`, api: 'openai' }], log: { durability: 'strict' }, capture: { mediaThresholdBytes: 1024 } }, sink: log, chainDir: pristine, deps: { origin: ORIGIN } });
  const client = new OpenAI({ apiKey: 'sk-test-0000000000000000', baseURL: `${stack.base}/openai/v1` });
  // Two conversations of three turns (alice, bob) and one request with an image.
  for (const [user, name] of [['alice', 'Alice'], ['bob', 'Bob']] as const) {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: `My name is ${name} and my card is 4111 1111 1111 1111` }];
    for (let turn = 0; turn < 3; turn++) {
      const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, user });
      messages.push(r.choices[0]?.message as OpenAI.Chat.ChatCompletionMessageParam, { role: 'user', content: `turn ${turn + 1} from ${name}` });
    }
  }
  await client.chat.completions.create({ model: 'gpt-4o-mini', user: 'carol', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG.toString('base64')}` } }] }] });
  await stack.close();
  await tracer.close();
  for (let s = 0; s < 7; s++) proofs.push(await log.inclusionProof(s));
  await log.close();
  await up.close();
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('erase on a log the proxy wrote', () => {
  it('the proxy wrote v2 entries with the bodies, their wire digests and the media list as salted parts, and the log verifies', async () => {
    const es = await entries(pristine);
    expect(es).toHaveLength(7);
    const bodies = ['/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256'];
    expect(es.slice(0, 6).every((e) => e.v === 2 && JSON.stringify(Object.keys(e.parts ?? {})) === JSON.stringify(bodies))).toBe(true);
    expect(Object.keys(es[6]?.parts ?? {})).toEqual(['/media', ...bodies]);
    expect(es[6]?.media).toHaveLength(1);
    expect((await verifyLog(pristine, { keys: [verifier] })).exit).toBe(0);
  });

  it('by seq: verify exits 0 and names the erased parts and the record; proofs made before still verify', async () => {
    const dir = await copy();
    const r = await cli('erase', dir, '--seq', '1,2', '--reason', 'GDPR art. 17 request 42', '--key', keys.signerKey, '--by', 'dpo@example.com');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^erased 8 parts of 2 entries \(erasure record at seq 7\)/);
    const es = await entries(dir);
    expect(es[1]?.request.body).toEqual({ erased: { at: expect.any(String), reason: 'GDPR art. 17 request 42', by: 'dpo@example.com' } });
    expect(es[1]?.parts?.['/request/body']).toEqual({ digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Regression: '4111' alone also matched by chance inside the entry's hex digests (about 1 run in 100);
    // the card number with its spaces cannot occur in hex or base64.
    expect(JSON.stringify(es[1])).not.toContain('4111 1111');
    expect(JSON.stringify(es[1])).not.toContain('Alice');
    expect(es[7]).toMatchObject({ kind: 'erasure', erasure: { reason: 'GDPR art. 17 request 42', by: 'dpo@example.com', entries: [[1, 2]] } });
    const v = await cli('verify', dir, '--key', keys.verifierKey);
    expect(v.code).toBe(0);
    expect(v.out).toContain('; 8 parts erased (by erasure records at seq 7)');
    for (const p of proofs) expect(verifyProofBundle(p, [verifier]).index).toBe(p.index);
    // A proof made after the erasure verifies too (the entry hash did not change).
    const p = await cli('prove', dir, '--seq', '1', '--json');
    expect(p.code).toBe(0);
    const after = JSON.parse(p.out) as InclusionProofBundle;
    expect(after.entryHash).toBe(proofs[1]?.entryHash);
    expect(verifyProofBundle(after, [verifier]).index).toBe(1);
  });

  it('by conversation and by filter, and the image of an erased entry is deleted', async () => {
    const dir = await copy();
    const es = await entries(dir);
    const conv = es[3]?.trace.conversationId as string;
    expect(es.filter((e) => e.trace.conversationId === conv)).toHaveLength(3);
    const a = await cli('erase', dir, '--conversation', conv, '--reason', 'user left', '--key', keys.signerKey);
    expect(a.code).toBe(0);
    expect(a.out).toContain('of 3 entries');
    const media = path.join(dir, es[6]?.media[0]?.path as string);
    await expect(readFile(media)).resolves.toBeDefined();
    const b = await cli('erase', dir, '--match', '.request.body.user == "carol"', '--reason', 'retention of images', '--key', keys.signerKey);
    expect(b.code).toBe(0);
    expect(b.out).toContain('1 media files deleted');
    await expect(readFile(media)).rejects.toMatchObject({ code: 'ENOENT' });
    const report = await verifyLog(dir, { keys: [verifier], entrySignatures: 'all', strictMedia: true });
    expect(report.failure).toBeNull();
    expect(report.erased).toEqual({ parts: 17, entries: 4, records: [7, 8] });
    // Nothing left to erase: no new record.
    const c = await cli('erase', dir, '--conversation', conv, '--reason', 'again', '--key', keys.signerKey);
    expect(c.out).toContain('nothing to erase');
  });

  it('nothing that confirms a guess survives: no wire digest or media digest of an erased entry is left in the log, its media file is gone', async () => {
    const dir = await copy();
    const es = await entries(dir);
    const carol = es[6] as Entry;
    const secrets = [carol.request.bodySha256, carol.response.bodySha256, carol.media[0]?.sha256 as string];
    const mediaFile = path.join(dir, carol.media[0]?.path as string);
    await expect(readFile(mediaFile)).resolves.toBeDefined();
    const r = await cli('erase', dir, '--seq', '6', '--reason', 'r', '--key', keys.signerKey);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^erased 5 parts of 1 entries .*; 1 media files deleted/);
    // The replayed answer is the same for every exchange, so its wire digest is also in entries that
    // keep their content; the request's and the image's are this entry's alone.
    const elsewhere = JSON.stringify(es.filter((e) => e.seq !== 6));
    const own = secrets.filter((s) => !elsewhere.includes(s));
    expect(own).toEqual([carol.request.bodySha256, carol.media[0]?.sha256]);
    let all = '';
    for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-'))) all += await readFile(path.join(dir, f), 'utf8');
    for (const s of own) expect(all).not.toContain(s);
    expect(JSON.stringify((await entries(dir))[6])).not.toMatch(new RegExp(secrets.join('|')));
    await expect(readFile(mediaFile)).rejects.toMatchObject({ code: 'ENOENT' });
    const after = (await entries(dir))[6] as Entry & Record<string, unknown>;
    expect(after.media).toEqual({ erased: expect.any(Object) });
    expect(after.request.bodySha256).toEqual({ erased: expect.any(Object) });
    const v = await verifyLog(dir, { keys: [verifier], entrySignatures: 'all', strictMedia: true });
    expect(v.failure).toBeNull();
    expect(v.erased).toEqual({ parts: 5, entries: 1, records: [7] });
    expect(v.media.files).toBe(0);
    for (const p of proofs) expect(verifyProofBundle(p, [verifier]).index).toBe(p.index);
    // Putting the wire digest back, or changing the digest of an erased part, is tampering.
    for (const mutate of [(e: Record<string, any>) => (e.request.bodySha256 = secrets[0]), (e: Record<string, any>) => (e.parts['/media'].digest = 'b'.repeat(64))]) {
      const c = path.join(root, `tamper-${n++}`);
      await cp(dir, c, { recursive: true });
      const at = await lineOf(c, 6);
      const e = JSON.parse(at.lines[at.i] as string) as Record<string, any>;
      mutate(e);
      at.lines[at.i] = JSON.stringify(e);
      await writeFile(at.file, at.lines.join('\n'));
      const t = await verifyLog(c, { keys: [verifier] });
      expect(t.exit).toBe(3);
      expect(t.failure?.seq).toBe(6);
    }
  });

  it('tampering with an erased entry is caught: text put back, a changed digest, an erasure without a record', async () => {
    const dir = await copy();
    const original = (await lineOf(dir, 1)).lines;
    expect((await cli('erase', dir, '--seq', '1', '--reason', 'r', '--key', keys.signerKey)).code).toBe(0);
    const cases: Array<[string, (e: Record<string, any>, orig: Record<string, any>) => void, string]> = [
      ['text put back, no salt', (e, o) => (e.request.body = o.request.body), 'no salt'],
      ['text and its salt put back', (e, o) => ((e.request.body = o.request.body), (e.parts['/request/body'].salt = o.parts['/request/body'].salt)), ''],
      ['digest changed', (e) => (e.parts['/response/body'].digest = 'a'.repeat(64)), 'does not match its hash'],
      ['marker of another shape', (e) => (e.request.body = { erased: true }), 'no salt'],
    ];
    const before = JSON.parse(original.find((l) => l !== '' && (JSON.parse(l) as Entry).seq === 1) as string) as Record<string, any>;
    for (const [name, mutate, message] of cases) {
      const c = path.join(root, `tamper-${n++}`);
      await cp(dir, c, { recursive: true });
      const at = await lineOf(c, 1);
      const e = JSON.parse(at.lines[at.i] as string) as Record<string, any>;
      mutate(e, before);
      at.lines[at.i] = JSON.stringify(e);
      await writeFile(at.file, at.lines.join('\n'));
      const r = await verifyLog(c, { keys: [verifier] });
      // Putting back the very text and salt restores the entry as written: that is not tampering.
      if (message === '') {
        expect(r.exit, name).toBe(0);
        continue;
      }
      expect(r.exit, name).toBe(3);
      expect(r.failure?.seq, name).toBe(1);
      expect(r.failure?.message, name).toContain(message);
    }
    // An erasure done by hand, without a signed record: seq 4 looks erased, nothing lists it.
    const c = path.join(root, `tamper-${n++}`);
    await cp(dir, c, { recursive: true });
    const at = await lineOf(c, 4);
    const e = JSON.parse(at.lines[at.i] as string) as Record<string, any>;
    e.request.body = { erased: { at: '2026-01-01T00:00:00.000Z', reason: 'r', by: 'x' } };
    delete e.parts['/request/body'].salt;
    at.lines[at.i] = JSON.stringify(e);
    await writeFile(at.file, at.lines.join('\n'));
    const r = await verifyLog(c, { keys: [verifier] });
    expect(r.exit).toBe(3);
    expect(r.failure).toMatchObject({ seq: 4, message: expect.stringContaining('no erasure record') });
  });

  it('audit packs made before an erasure still verify after it, and a pack made after it verifies with the erased parts', async () => {
    const dir = await copy();
    const before = path.join(root, `pack-${n++}.tar.gz`);
    expect((await cli('export', dir, '--seq', '0-6', '--out', before, '--key', keys.verifierKey)).code).toBe(0);
    // Seq 6 has an image: its wire digests, media list and media file go with the erasure.
    expect((await cli('erase', dir, '--seq', '1,2,6', '--reason', 'r', '--key', keys.signerKey)).code).toBe(0);
    const v1 = await cli('verify', before, '--key', keys.verifierKey);
    expect(v1.err).toBe('');
    expect(v1.code).toBe(0);
    const after = path.join(root, `pack-${n++}.tar.gz`);
    expect((await cli('export', dir, '--out', after, '--key', keys.verifierKey)).code).toBe(0);
    expect((await cli('verify', after, '--key', keys.verifierKey)).code).toBe(0);
  });

  it('refuses a key that is not the log key, and a request without a selector, erasing nothing', async () => {
    const dir = await copy();
    const other = generateSignerKey(ORIGIN);
    const r = await cli('erase', dir, '--seq', '1', '--reason', 'r', '--key', other.signerKey);
    expect(r.code).toBe(1);
    expect(r.err).toContain('LLMAUDIT_E_ERASE_KEY');
    const s = await cli('erase', dir, '--reason', 'r', '--key', keys.signerKey);
    expect(s.err).toContain('LLMAUDIT_E_ERASE_INVALID');
    expect((await verifyLog(dir, { keys: [verifier] })).erased.parts).toBe(0);
  });
});
