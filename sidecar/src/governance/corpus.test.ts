// The detector corpus: precision and recall per detector over generated positives (faker, many
// locales) and hand-picked hard negatives. Precision below 0.95 fails the build.
import { describe, expect, it } from 'vitest';
import { builtinDetector, detectAll, DETECTOR_PRIORITY, type Match } from './detectors.ts';
import { BUILTIN_DETECTORS } from './schema.ts';
import { negativeSamples, positiveSamples } from './corpus-support.ts';

// Every built-in detector, in the priority order the policy runs them in.
const detectors = DETECTOR_PRIORITY.map((n) => builtinDetector(n as (typeof BUILTIN_DETECTORS)[number]));

describe('detector corpus', () => {
  const positives = positiveSamples();
  const negatives = negativeSamples();

  it('has at least 500 positive and 500 negative samples', () => {
    expect(positives.length).toBeGreaterThanOrEqual(500);
    expect(negatives.length).toBeGreaterThanOrEqual(500);
  });

  it('every detector has precision >= 0.95 (and recall >= 0.8) on the corpus', () => {
    const stats = new Map<string, { tp: number; fp: number; fn: number; misses: string[]; fps: string[] }>();
    for (const n of BUILTIN_DETECTORS) stats.set(n, { tp: 0, fp: 0, fn: 0, misses: [], fps: [] });
    const st = (n: string) => stats.get(n) as { tp: number; fp: number; fn: number; misses: string[]; fps: string[] };
    for (const s of [...positives, ...negatives]) {
      const found: Match[] = detectAll(detectors, s.text);
      let hit = false;
      for (const m of found) {
        const e = s.expect;
        if (e !== null && m.detector === e.detector && m.start < e.end && e.start < m.end) {
          if (!hit) st(m.detector).tp++;
          hit = true;
        } else {
          st(m.detector).fp++;
          st(m.detector).fps.push(s.text.slice(m.start, m.end));
        }
      }
      if (s.expect !== null && !hit) {
        st(s.expect.detector).fn++;
        st(s.expect.detector).misses.push(s.text.slice(s.expect.start, s.expect.end));
      }
    }
    const rows = [...stats].map(([detector, x]) => ({
      detector,
      samples: x.tp + x.fn,
      precision: x.tp + x.fp === 0 ? 1 : Number((x.tp / (x.tp + x.fp)).toFixed(3)),
      recall: x.tp + x.fn === 0 ? 1 : Number((x.tp / (x.tp + x.fn)).toFixed(3)),
      falsePositives: x.fps.slice(0, 3).join(' | '),
      misses: x.misses.slice(0, 3).join(' | '),
    }));
    console.table(rows);
    for (const r of rows) {
      expect.soft(r.precision, `${r.detector} precision (false positives: ${r.falsePositives})`).toBeGreaterThanOrEqual(0.95);
      expect.soft(r.recall, `${r.detector} recall (misses: ${r.misses})`).toBeGreaterThanOrEqual(0.8);
    }
  });
});
