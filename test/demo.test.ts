// `make demo` (hack/demo.ts) end to end, against the bundled scripted upstream: the real CLI as a
// child, the openai SDK, SIGTERM, verify, prove, verify-proof. The output lines are the product.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

describe('make demo', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  });

  it('records a tool-using conversation, verifies the log and an inclusion proof, exit 0', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-demo-test-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'hack/demo.ts'], {
      cwd: root,
      env: { ...process.env, LLMAUDIT_DEMO_UPSTREAM: 'scripted', LLMAUDIT_DEMO_DIR: dir, LLMAUDIT_DEMO_BUILD: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(out, out).toContain('using the bundled scripted upstream');
    expect(out).toContain('assistant calls get_weather({"city":"Paris"}), get_weather({"city":"Tokyo"})');
    expect(out).toContain('Paris: light rain, 14 °C; Tokyo: clear, 21 °C.');
    expect(out).toMatch(/#0 \S+ POST \/v1\/chat\/completions llmaudit-scripted-1 → 200 streamed \d+ chunks USER_PROMPT→TOOL_CALL calls get_weather, get_weather/);
    expect(out).toMatch(/#1 \S+ POST \/v1\/chat\/completions llmaudit-scripted-1 → 200 streamed \d+ chunks FINAL_RESPONSE carries 2 tool results/);
    expect(out).toContain('proxy exited with status 0');
    expect(out).toContain('the API key is stored redacted: yes');
    expect(out).toMatch(/intact: 2 entries/);
    expect(out).toMatch(/valid: entry seq 0 .* is in the log/);
    expect(out).toContain('OK: 2 exchanges recorded, the log verifies');
    expect(code).toBe(0);
  });
});
