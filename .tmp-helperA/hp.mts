import { entryHashBytes } from '/work/main/sidecar/src/auditlog/hash.ts';
import { parseSignerKey, generateSignerKey } from '/work/main/sidecar/src/auditlog/signed-note.ts';
import { leafHash } from '/work/main/sidecar/src/auditlog/merkle.ts';
const body = { model: 'gpt-4o', messages: Array.from({ length: 8 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x'.repeat(400) + ' ünïcode ' + i })) };
const entry = { v: 1, seq: 1, ts: new Date().toISOString(), origin: 'llmaudit.dev/a/b/c', id: 'abc', endpoint: 'openai', api: 'openai.chat', model: 'gpt-4o',
  request: { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-...mnop' }, body, bodySha256: 'a'.repeat(64), bytes: 4000 },
  response: { status: 200, headers: {}, body: { choices: [{ message: { content: 'hello' } }] }, bodySha256: 'b'.repeat(64), bytes: 100, streamed: false, chunks: 0, ttfbMs: 10, durationMs: 20, complete: true },
  usage: { inputTokens: 10, outputTokens: 20 }, trace: { traceId: 't', spanId: 's', spanType: 'FINAL_RESPONSE', conversationId: null, toolCalls: [], toolResults: [] },
  policy: { name: 'p', decision: 'allow', reasons: [], risk: 0, capture: 'full' }, media: [], prevHash: 'c'.repeat(64) };
console.log('entry bytes', JSON.stringify(entry).length);
const s = parseSignerKey(generateSignerKey('x').signerKey);
for (let w = 0; w < 2000; w++) entryHashBytes(entry);
let t = performance.now(); const N = 20000;
for (let i = 0; i < N; i++) { entry.seq = i; const h = entryHashBytes(entry); leafHash(h); }
let dt = performance.now() - t; console.log('hash+leaf per entry µs', (dt * 1000 / N).toFixed(1), '=> /s', Math.round(N / dt * 1000));
t = performance.now();
const h = entryHashBytes(entry);
for (let i = 0; i < N; i++) s.sign(h);
dt = performance.now() - t; console.log('sign µs', (dt * 1000 / N).toFixed(1));
import canonicalize from 'canonicalize';
import { canonicalJson } from '/work/main/sidecar/src/auditlog/jcs.ts';
import { sha256 } from '/work/main/sidecar/src/auditlog/hash.ts';
import nacl from 'tweetnacl';
const c = canonicalize as unknown as (v: unknown) => string;
const bench = (name: string, f: () => void) => { for (let i = 0; i < 2000; i++) f(); const t0 = performance.now(); for (let i = 0; i < N; i++) f(); console.log(name, ((performance.now() - t0) * 1000 / N).toFixed(1), 'µs'); };
bench('canonicalize lib', () => c(entry));
bench('canonicalJson (check+lib)', () => canonicalJson(entry));
bench('JSON.stringify', () => JSON.stringify(entry));
const str = canonicalJson(entry);
bench('sha256 of string', () => sha256(str));
bench('sign', () => s.sign(h));
const kp = nacl.sign.keyPair();
bench('tweetnacl sign', () => nacl.sign.detached(h, kp.secretKey));
