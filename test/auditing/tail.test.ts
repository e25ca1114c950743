// `llmaudit tail` on a log the real proxy wrote, and `tail -f` as the built CLI (a child process)
// following a volume while a writer appends across segment rollovers and a second chain appears.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog } from '../../sidecar/src/auditlog/index.ts';
import { samplePayload, tempDir, testKeys } from '../../sidecar/src/auditlog/test-support.ts';
import type { Entry } from '../../sidecar/src/auditlog/types.ts';
import { runCli } from '../../sidecar/src/cli/program.ts';
import { feedLine } from '../../sidecar/src/audit-tools/feed-line.ts';
import { recordLog, type RecordedLog } from './proxy-log.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const cli = path.join(repo, 'sidecar/dist/llmaudit.mjs');
let root: string;
let cleanup: () => Promise<void>;
let chain: string;
let rec: RecordedLog;

async function llmaudit(args: string[], tty = false): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stderrIsTTY: tty, stdoutIsTTY: tty, env: {}, cwd: root });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('llmaudit-tail-'));
  chain = path.join(root, 'vol', 'prod', 'agent-a_0001');
  await mkdir(chain, { recursive: true });
  rec = await recordLog(chain, { conversations: 2, plainChats: 1, notFound: 1, origin: 'llmaudit.dev/prod/agent-a/0001' });
}, 60_000);

afterAll(async () => cleanup());

describe('llmaudit tail', () => {
  it('prints the newest exchanges one line each, as the demo does', async () => {
    const r = await llmaudit(['tail', 'vol/prod/agent-a_0001', '-n', '3']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^#3 \d\d:\d\d:\d\d\.\d{3} POST \/openai\/v1\/chat\/completions llmaudit-scripted-1 → 200 streamed \d+ chunks FINAL_RESPONSE carries 1 tool result tokens \d+\/\d+ trace [0-9a-f]{8} hash [0-9a-f]{12}…$/);
    expect(lines[1]).toMatch(/^#4 .* POST \/openai\/v1\/chat\/completions llmaudit-scripted-1 → 200 USER_PROMPT→FINAL_RESPONSE tokens/);
    expect(lines[2]).toMatch(/^#5 .* GET \/openai\/v1\/files - → 404 /);
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('--filter narrows by class and status; --json prints the entries as the log holds them', async () => {
    const calls = await llmaudit(['tail', 'vol', '--filter', 'class=TOOL_CALL']);
    expect(calls.stdout.trimEnd().split('\n').map((l) => /#(\d+)/.exec(l)?.[1])).toEqual(['0', '2']);
    expect(calls.stdout).toMatch(/^prod\/agent-a_0001 #0 .*USER_PROMPT→TOOL_CALL calls get_weather/);
    const errors = await llmaudit(['tail', 'vol', '--filter', 'status>=400', '--json']);
    const entries = errors.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Entry);
    expect(entries.map((e) => [e.seq, e.response.status, e.origin])).toEqual([[5, 404, rec.origin]]);
    const bad = await llmaudit(['tail', 'vol', '--filter', 'colour=red']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/LLMAUDIT_E_USAGE: .*unknown field "colour"/);
  });

  it('prints an erasure record as what was erased, not as an exchange', () => {
    // Regression: an erasure record showed as an exchange line "? ? - → no answer - tokens ?/?".
    const record = { v: 2, seq: 12, ts: '2026-04-01T09:30:00.000Z', origin: 'o', prevHash: '0'.repeat(64), hash: 'ab'.repeat(32), kind: 'erasure', erasure: { at: '2026-04-01T09:30:00.000Z', reason: 'GDPR art. 17', by: 'dpo', entries: [[1, 2], [7, 7]] } } as unknown as Entry;
    expect(feedLine(record, { colour: false })).toBe('#12 09:30:00.000 erasure record: content of 3 entries erased (seq 1-2,7), reason "GDPR art. 17", by "dpo" hash abababababab…');
  });

  it('colours only on a terminal', async () => {
    const r = await llmaudit(['tail', 'vol/prod/agent-a_0001', '-n', '1'], true);
    expect(r.stdout).toContain('\u001b[33m404\u001b[0m');
  });
});

describe('llmaudit tail -f (the built CLI)', () => {
  let child: ChildProcessWithoutNullStreams | null = null;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('follows appends across segment rollovers and a chain that appears later, then exits 0 on SIGTERM', async () => {
    child = spawn(process.execPath, [cli, 'tail', '-f', '-n', '1', path.join(root, 'vol')], { stdio: ['pipe', 'pipe', 'pipe'] });
    const seen: string[] = [];
    const waiters: Array<{ n: number; resolve: () => void }> = [];
    createInterface({ input: child.stdout }).on('line', (l) => {
      seen.push(l);
      for (const w of waiters) if (seen.length >= w.n) w.resolve();
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const lines = (n: number): Promise<void> => (seen.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })));
    await lines(1); // the backlog: the newest entry
    expect(seen[0]).toMatch(/^prod\/agent-a_0001 #5 /);

    // The chain continues in small segments (several rollovers), and a second pod's chain appears.
    const log = await openLog({ dir: chain, origin: rec.origin, signerKey: rec.keys.signerKey, segmentMaxBytes: 1500 });
    for (let i = 0; i < 6; i++) await log.append(samplePayload(100 + i));
    await log.close();
    const other = path.join(root, 'vol', 'prod', 'agent-b_0002');
    await mkdir(other, { recursive: true });
    const keysB = testKeys('llmaudit.dev/prod/agent-b/0002');
    const logB = await openLog({ dir: other, origin: 'llmaudit.dev/prod/agent-b/0002', signerKey: keysB.signerKey });
    await logB.append(samplePayload(200));
    await logB.append(samplePayload(201));
    await logB.close();
    await lines(9);
    const a = seen.filter((l) => l.startsWith('prod/agent-a_0001 ')).map((l) => Number(/#(\d+)/.exec(l)?.[1]));
    const b = seen.filter((l) => l.startsWith('prod/agent-b_0002 ')).map((l) => Number(/#(\d+)/.exec(l)?.[1]));
    expect(a).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(b).toEqual([0, 1]);
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(seen).toHaveLength(9);
  });
});
