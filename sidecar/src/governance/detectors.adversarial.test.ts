// Every detector's regex stays linear in its input: 1 MiB of the input most likely to make a
// backtracking engine go quadratic or worse (long runs of the characters its repeated classes
// take, its prefixes repeated, separators that almost fit) finishes in bounded time. A pattern
// with a nested or unguarded unbounded quantifier takes minutes to hours on these inputs.
import { describe, expect, it } from 'vitest';
import { builtinDetector, detectAll, DETECTOR_PRIORITY, type Match } from './detectors.ts';
import { customDetector } from './custom-detector.ts';
import type { BuiltinDetector } from './schema.ts';

const MIB = 1 << 20;
const fill = (unit: string, prefix = '', suffix = ''): string => prefix + unit.repeat(Math.ceil((MIB - prefix.length - suffix.length) / unit.length)) + suffix;

const INPUTS: Record<BuiltinDetector, string[]> = {
  email: [fill('a'), fill('a@'), fill('a.', 'x@'), fill('-a', 'x@'), fill('a@a.'), fill('%+')],
  phone: [fill('1'), fill('1 '), fill('0-'), fill('(0'), fill('+1'), fill('1.'), fill('0 (1) ')],
  card: [fill('4'), fill('4 '), fill('4-'), fill('41 ')],
  iban: [fill('A'), fill('AB12'), fill('AB12 '), fill('A1'), fill('ABCD ', 'DE12 ')],
  ssn: [fill('1'), fill('123-'), fill('123-45-'), fill('1-')],
  ipv4: [fill('1.'), fill('255.'), fill('25.'), fill('1.1.1.')],
  ipv6: [fill(':'), fill('a:'), fill('ffff'), fill('ffff:'), fill('::a')],
  'openai-key': [fill('sk-'), fill('a', 'sk-'), fill('sk-proj-'), fill('-a', 'sk-')],
  'anthropic-key': [fill('sk-ant-api03-'), fill('a', 'sk-ant-api03-')],
  'aws-key': [fill('AKIA'), fill('A'), fill('AKIAAAAA')],
  'github-token': [fill('ghp_'), fill('a', 'ghp_'), fill('gh'), fill('a', 'github_pat_')],
  jwt: [fill('eyJ'), fill('a', 'eyJ'), fill('eyJa.'), fill('eyJaaaaaaaaa.eyJ'), fill('a', 'eyJaaaaaaaaa.eyJaa.')],
  'private-key': [fill('-----BEGIN PRIVATE KEY-----'), fill('-----BEGIN RSA PRIVATE KEY-----\n'), fill('-'), fill('-----END ', '-----BEGIN PRIVATE KEY-----')],
  'high-entropy': [fill('a'), fill('aB3'), fill('aB3/+='), fill('a-'), fill('A1b2C3d4E5f6G7h8I9j0K', '', '!')],
};

function timed(fn: () => Match[]): { ms: number; matches: number } {
  const t0 = performance.now();
  const n = fn().length;
  return { ms: performance.now() - t0, matches: n };
}

// Far above what linear matching of 1 MiB takes (milliseconds), far below what quadratic takes.
const BOUND_MS = 3000;

describe('detectors on adversarial 1 MiB inputs', () => {
  for (const name of DETECTOR_PRIORITY as readonly BuiltinDetector[]) {
    it(`${name} stays linear`, () => {
      const d = builtinDetector(name);
      for (const input of INPUTS[name]) {
        const r = timed(() => {
          const out: Match[] = [];
          d.find(input, out);
          return out;
        });
        expect(r.ms, `${name} on ${JSON.stringify(input.slice(0, 20))}…`).toBeLessThan(BOUND_MS);
      }
    });
  }

  it('all detectors together, overlap resolution included, on 1 MiB of dense matches', () => {
    const all = (DETECTOR_PRIORITY as readonly BuiltinDetector[]).map((n) => builtinDetector(n));
    const dense = fill('a@b.cc 4111111111111111 10.0.0.1 ');
    const r = timed(() => detectAll(all, dense));
    expect(r.matches).toBeGreaterThan(30_000);
    expect(r.ms).toBeLessThan(BOUND_MS * 2);
  });

  it('an accepted custom pattern stays linear', () => {
    const d = customDetector('employee-id', 'EMP-[0-9]{4,8}(-[A-Z]{2})?', false);
    for (const input of [fill('EMP-1'), fill('EMP-'), fill('1'), fill('EMP-1234-A')]) {
      const r = timed(() => {
        const out: Match[] = [];
        d.find(input, out);
        return out;
      });
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
  });
});
