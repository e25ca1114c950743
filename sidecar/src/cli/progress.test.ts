// The progress bar is drawn only on a terminal, and cleared at the end.
import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.ts';
import type { CliIo } from './cli-context.ts';

function io(tty: boolean, out: string[]): CliIo {
  return { stdout: () => undefined, stderr: (t) => out.push(t), stderrIsTTY: tty, env: {}, cwd: '/' };
}

describe('createProgress', () => {
  it('draws on a TTY, at most every 100 ms, and clears the line', () => {
    const out: string[] = [];
    let now = 1000;
    const p = createProgress(io(true, out), true, () => now);
    p.update(50, 100, '5 entries');
    p.update(60, 100, 'skipped: within 100 ms');
    now += 200;
    p.update(100, 100, '10 entries');
    p.done();
    expect(out).toHaveLength(3);
    expect(out[0]).toContain(' 50% 5 entries');
    expect(out[1]).toContain('100% 10 entries');
    expect(out[2]).toBe('\r\x1b[K');
  });

  it('draws nothing off a terminal or when disabled (--json)', () => {
    const out: string[] = [];
    createProgress(io(false, out), true).update(1, 2, 'x');
    createProgress(io(true, out), false).update(1, 2, 'x');
    expect(out).toEqual([]);
  });
});
