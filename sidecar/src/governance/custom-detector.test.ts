import { describe, expect, it } from 'vitest';
import { customDetector, linearPatternProblem } from './custom-detector.ts';
import type { Match } from './detectors.ts';

describe('linearPatternProblem', () => {
  it('accepts bounded quantifiers, optional groups, classes with quantifier characters', () => {
    for (const p of ['EMP-[0-9]{4,8}', '(-[A-Z]{2})?', '[*+]{1,3}', 'a\\+b', '(?:ab){1,4}', '(?<y>\\d{4})-\\d{2}']) expect(linearPatternProblem(p), p).toBeNull();
  });

  it('refuses unbounded and nested quantifiers, backreferences, huge bounds, invalid syntax', () => {
    expect(linearPatternProblem('a+')).toMatch(/unbounded quantifier "\+"/);
    expect(linearPatternProblem('.*x')).toMatch(/unbounded/);
    expect(linearPatternProblem('a{2,}')).toMatch(/upper bound/);
    expect(linearPatternProblem('(a{1,9}){1,9}')).toMatch(/holds a quantifier/);
    expect(linearPatternProblem('(a)\\1')).toMatch(/backreferences/);
    expect(linearPatternProblem('a{1,1000}')).toMatch(/above 256/);
    expect(linearPatternProblem('(')).toMatch(/not a valid regular expression/);
  });
});

describe('customDetector', () => {
  it('finds every match, with the upper-case label', () => {
    const d = customDetector('employee-id', 'EMP-[0-9]{4,8}', true);
    const out: Match[] = [];
    d.find('emp-1234 and EMP-99999', out);
    expect(out).toEqual([
      { start: 0, end: 8, detector: 'employee-id' },
      { start: 13, end: 22, detector: 'employee-id' },
    ]);
    expect(d.label).toBe('EMPLOYEE_ID');
  });
});
