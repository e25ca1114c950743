/**
 * `npm run bench -- stream-frames [--quick] [--json] [--baseline DIR]`: what recording one frame
 * of a streamed response costs the event loop, per provider format, for streams of 200 and 10,000
 * frames (docs/benchmarks.md "Per frame of a stream").
 *
 * Streams are built from the recorded wire frames in test/fixtures/wire/ (their shapes follow the
 * providers' documentation, see its README): the frames before the first text delta, then the
 * fixture's text-delta frames over and over up to the length, then the frames after the last
 * delta. Each frame is pushed as its own chunk, as providers flush one per token.
 *
 *   JSON.parse alone   each frame's JSON text parsed, the text already cut out: the floor of any
 *                      recorder that reads what a stream says
 *   parser             the SSE (or NDJSON) parser alone: bytes to events
 *   adapter            the recording's whole per-frame path: parser, JSON.parse, the API's
 *                      accumulator, and at the end the reconstructed exchange
 *
 * `--baseline DIR`: another checkout's sidecar/src (e.g. a worktree of an earlier commit); its
 * parser and adapter run as rows of the same run (`--baseline` a copy of this checkout: the A/A
 * check of the bench itself). Rows take turns of ~10 ms, 15 rounds (7 with --quick) after a
 * warm-up; the median of the rounds in ns per frame.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WIRE = path.join(here, '..', 'test', 'fixtures', 'wire');

interface Fixture {
  name: string;
  api: string;
  file: string;
  request: string;
  contentType: string;
  /** Is this frame one of the text deltas that a long answer repeats? */
  isDelta: (frame: string) => boolean;
}

const FIXTURES: Fixture[] = [
  { name: 'OpenAI chat (SSE)', api: 'openai.chat', file: 'openai/chat-stream-final.sse', request: 'openai/chat-stream-final.request.json', contentType: 'text/event-stream', isDelta: (f) => f.includes('"delta":{"content"') },
  { name: 'OpenAI responses (SSE)', api: 'openai.responses', file: 'openai/responses-stream-text.sse', request: 'openai/responses-stream-text.request.json', contentType: 'text/event-stream', isDelta: (f) => f.startsWith('event: response.output_text.delta') },
  { name: 'Anthropic messages (SSE)', api: 'anthropic.messages', file: 'anthropic/messages-stream-text.sse', request: 'anthropic/messages-stream-text.request.json', contentType: 'text/event-stream', isDelta: (f) => f.startsWith('event: content_block_delta') },
  { name: 'Ollama chat (NDJSON)', api: 'ollama.chat', file: 'ollama/chat-stream-final.ndjson', request: 'ollama/chat-stream-final.request.json', contentType: 'application/x-ndjson', isDelta: (f) => f.includes('"done":false') },
];

interface Stream {
  chunks: Buffer[];
  /** The JSON text of each frame (what JSON.parse reads). */
  texts: string[];
  request: unknown;
  frames: number;
}

function buildStream(fx: Fixture, frames: number): Stream {
  const raw = readFileSync(path.join(WIRE, fx.file), 'utf8');
  const ndjson = fx.contentType.includes('ndjson');
  const sep = ndjson ? '\n' : '\n\n';
  const all = raw.split(sep).filter((f) => f.trim() !== '').map((f) => f + sep);
  const first = all.findIndex(fx.isDelta);
  let last = -1;
  for (let i = 0; i < all.length; i++) if (fx.isDelta(all[i] as string)) last = i;
  if (first === -1) throw new Error(`${fx.file}: no delta frame`);
  const head = all.slice(0, first);
  const tail = all.slice(last + 1);
  const deltas = all.slice(first, last + 1).filter(fx.isDelta);
  const out = [...head];
  for (let i = 0; out.length < frames - tail.length; i++) out.push(deltas[i % deltas.length] as string);
  out.push(...tail);
  const texts = out
    .map((f) => (ndjson ? f.trim() : f.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n')))
    .filter((t) => t !== '' && t !== '[DONE]');
  return { chunks: out.map((f) => Buffer.from(f, 'utf8')), texts, request: JSON.parse(readFileSync(path.join(WIRE, fx.request), 'utf8')) as unknown, frames: out.length };
}

interface Impl {
  label: string;
  createAdapter: (kind: string, body: unknown) => { setResponse(i: { status: number; contentType?: string | null }): void; push(c: Uint8Array): void; finish(o: { complete: boolean }): unknown };
  createSseParser: () => { push(c: Uint8Array): unknown[]; end(): unknown[] };
  createNdjsonParser: () => { push(c: Uint8Array): unknown[]; end(): unknown[] };
}

async function loadImpl(srcDir: string, label: string): Promise<Impl> {
  const adapters = path.join(srcDir, 'adapters');
  const ca = (await import(pathToFileURL(path.join(adapters, 'create-adapter.ts')).href)) as { createAdapter: Impl['createAdapter'] };
  const sse = (await import(pathToFileURL(path.join(adapters, 'sse-parser.ts')).href)) as { createSseParser: Impl['createSseParser'] };
  const nd = (await import(pathToFileURL(path.join(adapters, 'ndjson-parser.ts')).href)) as { createNdjsonParser: Impl['createNdjsonParser'] };
  return { label, createAdapter: ca.createAdapter, createSseParser: sse.createSseParser, createNdjsonParser: nd.createNdjsonParser };
}

export interface FrameRow {
  stream: string;
  frames: number;
  row: string;
  nsPerFrame: number;
  usPerStream: number;
}

type Run = () => unknown;

function runsFor(fx: Fixture, s: Stream, impls: Impl[]): Array<[string, Run]> {
  const ndjson = fx.contentType.includes('ndjson');
  const rows: Array<[string, Run]> = [
    [
      'JSON.parse alone (floor)',
      () => {
        let n = 0;
        for (const t of s.texts) n += JSON.parse(t) === null ? 0 : 1;
        return n;
      },
    ],
  ];
  for (const impl of impls) {
    const suffix = impl.label === '' ? '' : ` (${impl.label})`;
    rows.push([
      `parser${suffix}`,
      () => {
        const p = ndjson ? impl.createNdjsonParser() : impl.createSseParser();
        let n = 0;
        for (const c of s.chunks) n += p.push(c).length;
        return n + p.end().length;
      },
    ]);
    rows.push([
      `adapter${suffix}`,
      () => {
        const a = impl.createAdapter(fx.api, s.request);
        a.setResponse({ status: 200, contentType: fx.contentType });
        for (const c of s.chunks) a.push(c);
        return a.finish({ complete: true });
      },
    ]);
  }
  return rows;
}

function timeOnce(run: Run, reps: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) run();
  return Number(process.hrtime.bigint() - t) / reps;
}

export async function runStreamFramesBench(opts: { quick?: boolean; baseline?: string; log?: (s: string) => void } = {}): Promise<FrameRow[]> {
  const say = opts.log ?? (() => undefined);
  const impls = [await loadImpl(path.join(here, '..', 'sidecar', 'src'), '')];
  if (opts.baseline !== undefined) impls.push(await loadImpl(path.resolve(opts.baseline), 'baseline'));
  // Many short turns rather than a few long ones: the machine's speed drifts within a run, and a
  // median over many alternations holds still where five long rounds did not (an A/A run, this
  // checkout against a copy of itself, differed by up to 40 % in one stream with five).
  const rounds = opts.quick === true ? 7 : 15;
  const out: FrameRow[] = [];
  for (const frames of [200, 10_000]) {
    for (const fx of FIXTURES) {
      const s = buildStream(fx, frames);
      const rows = runsFor(fx, s, impls);
      // About 10 ms per row and turn.
      const reps = Math.max(1, Math.round(10e6 / (s.frames * 3000)));
      for (let w = 0; w < 3; w++) for (const [, run] of rows) timeOnce(run, reps * 2); // warm-up: the code optimized
      const times = rows.map(() => [] as number[]);
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < rows.length; k++) {
          const i = (k + r) % rows.length;
          (times[i] as number[]).push(timeOnce((rows[i] as [string, Run])[1], reps));
        }
      }
      rows.forEach(([row], i) => {
        const sorted = [...(times[i] as number[])].sort((a, b) => a - b);
        const ns = sorted[Math.floor(sorted.length / 2)] as number;
        out.push({ stream: fx.name, frames: s.frames, row, nsPerFrame: Math.round(ns / s.frames), usPerStream: Math.round(ns / 100) / 10 });
      });
      say(`${fx.name}, ${s.frames} frames`);
    }
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const b = args.indexOf('--baseline');
  const rows = await runStreamFramesBench({
    quick: args.includes('--quick'),
    ...(b === -1 ? {} : { baseline: args[b + 1] as string }),
    log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`),
  } as Parameters<typeof runStreamFramesBench>[0]);
  if (!json) {
    const pad = (v: unknown, n: number): string => String(v).padStart(n);
    process.stdout.write(`${'stream'.padEnd(28)}${pad('frames', 8)}  ${'row'.padEnd(28)}${pad('ns/frame', 10)}${pad('µs/stream', 12)}\n`);
    for (const r of rows) process.stdout.write(`${r.stream.padEnd(28)}${pad(r.frames, 8)}  ${r.row.padEnd(28)}${pad(r.nsPerFrame, 10)}${pad(r.usPerStream, 12)}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`${JSON.stringify({ bench: 'stream-frames', at: new Date().toISOString(), node: process.version, rows })}\n`);
}
