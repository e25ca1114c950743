import { createServer } from 'node:http';
import { Pool } from 'undici';
const body = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(800) }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } });
const up = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
const upUrl = `http://127.0.0.1:${(up.address() as any).port}`;
const upstream = new Pool(upUrl);
const proxy = createServer(async (req, res) => {
  const chunks: Buffer[] = []; for await (const c of req) chunks.push(c as Buffer);
  const r = await upstream.request({ path: req.url!, method: req.method as any, body: Buffer.concat(chunks), headers: { 'content-type': req.headers['content-type']! } });
  res.writeHead(r.statusCode, r.headers as any);
  for await (const c of r.body) res.write(c);
  res.end();
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
const reqBody = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'y'.repeat(900) }] });
async function run(base: string, path: string, n: number): Promise<number[]> {
  const pool = new Pool(base, { connections: 1 }); const lat: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); const r = await pool.request({ path, method: 'POST', body: reqBody, headers: { 'content-type': 'application/json' } }); await r.body.text(); lat.push(performance.now() - t); }
  await pool.close(); return lat.sort((a, b) => a - b);
}
const q = (a: number[], p: number) => a[Math.floor(a.length * p)]!;
for (let round = 0; round < 2; round++) {
  const d = await run(upUrl, '/v1/chat/completions', 3000);
  const p = await run(`http://127.0.0.1:${(proxy.address() as any).port}`, '/v1/chat/completions', 3000);
  console.log(`floor round ${round}: direct p50 ${q(d, 0.5).toFixed(3)} | proxy p50 ${q(p, 0.5).toFixed(3)} p99 ${q(p,0.99).toFixed(3)} | added p50 ${(q(p, 0.5) - q(d, 0.5)).toFixed(3)} ms`);
}
process.exit(0);
