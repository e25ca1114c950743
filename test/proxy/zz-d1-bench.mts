import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { parseSidecarConfig } from '/work/main/sidecar/src/config/index.ts';
import { createProxy } from '/work/main/sidecar/src/proxy/create-proxy.ts';
import { createProxyMetrics } from '/work/main/sidecar/src/proxy/metrics.ts';
import { NOOP_TRACER } from '/work/main/sidecar/src/telemetry/noop-tracer.ts';
import { openLog, generateSignerKey } from '/work/main/sidecar/src/auditlog/index.ts';

const body = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(800) }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } });
const up = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
const upUrl = `http://127.0.0.1:${(up.address() as any).port}`;
const mode = process.argv[2] ?? 'mem';
const durability = (process.argv[3] ?? 'batched') as 'batched' | 'strict';
let sink: any = { append: async () => ({ seq: 0, hash: '', ts: '' }) };
if (mode === 'real') {
  const dir = await mkdtemp(join(tmpdir(), 'd1b-'));
  sink = await openLog({ dir, origin: 'x/y', signerKey: generateSignerKey('bench').signerKey, durability });
}
const config = parseSidecarConfig({ listeners: [{ port: 0 }], endpoints: [{ name: 'openai', upstream: upUrl, api: 'openai' }], log: { durability } });
const proxy = createProxy({ config, sink, logger: pino({ level: 'info' }, new Writable({ write(_c, _e, cb) { cb(); } })), tracer: NOOP_TRACER, metrics: createProxyMetrics(new Registry()) });
const [addr] = await proxy.start();
const reqBody = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'y'.repeat(900) }] });
async function run(base: string, path: string, n: number): Promise<number[]> {
  const pool = new Pool(base, { connections: 1 });
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await pool.request({ path, method: 'POST', body: reqBody, headers: { 'content-type': 'application/json' } });
    await r.body.text();
    lat.push(performance.now() - t);
  }
  await pool.close();
  return lat.sort((a, b) => a - b);
}
const q = (a: number[], p: number) => a[Math.floor(a.length * p)]!;
for (let round = 0; round < 2; round++) {
  const d = await run(upUrl, '/v1/chat/completions', 3000);
  const p = await run(`http://127.0.0.1:${addr!.port}`, '/openai/v1/chat/completions', 3000);
  console.log(`round ${round} ${mode}/${durability}: direct p50 ${q(d, 0.5).toFixed(3)} p99 ${q(d, 0.99).toFixed(3)} | proxy p50 ${q(p, 0.5).toFixed(3)} p99 ${q(p, 0.99).toFixed(3)} | added p50 ${(q(p, 0.5) - q(d, 0.5)).toFixed(3)} ms p99 ${(q(p, 0.99) - q(d, 0.99)).toFixed(3)}`);
}
await proxy.close();
if (mode === 'real') await sink.close();
up.close();
