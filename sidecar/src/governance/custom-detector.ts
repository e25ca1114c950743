/**
 * Detectors from a policy's own regular expressions. JavaScript's engine backtracks, so a pattern
 * is accepted only in a form whose matching time stays linear in the text (ADR 0015):
 * - every quantifier is bounded (`{n,m}` with m ≤ 256, `?`; no `*`, `+` or `{n,}`), so one
 *   start position costs at most the pattern's bounded length;
 * - no repeated group holds another quantifier (no `(a{1,9}){1,9}`: the ways to split a run
 *   blow up); an optional one may (`(-[A-Z]{2})?`);
 * - no backreferences (`\1`, `\k<name>`), which no automaton can match.
 * Patterns are checked when the config is validated (governanceProblems) and again here.
 */
import type { Detector, Match } from './detectors.ts';

const MAX_REPEAT = 256;

/** Why a pattern is refused, or null when it is accepted. */
export function linearPatternProblem(pattern: string, flags = ''): string | null {
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  // Per open group: does it (so far) contain a quantifier?
  const groups: boolean[] = [];
  let lastGroupQuantified = false; // the atom just closed was a group holding a quantifier
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(n) || n === 'k')) return 'backreferences are not allowed';
      i++;
      lastGroupQuantified = false;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      lastGroupQuantified = false;
      continue;
    }
    if (c === '(') {
      groups.push(false);
      lastGroupQuantified = false;
      continue;
    }
    if (c === ')') {
      const had = groups.pop() ?? false;
      if (had && groups.length > 0) groups[groups.length - 1] = true;
      lastGroupQuantified = had;
      continue;
    }
    let quantifier = false;
    let optional = false; // `?`: zero or one time, which splits no run of characters two ways
    if (c === '*' || c === '+') return `unbounded quantifier "${c}" at ${i}: use {n,m}`;
    if (c === '?') {
      // `(?`, `??`, `{1,2}?` are not a new quantifier of an atom.
      const prev = pattern[i - 1];
      if (prev !== '(' && prev !== '?' && prev !== '}') quantifier = optional = true;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m !== null) {
        if (m[2] !== undefined && m[3] === '') return `unbounded quantifier "${m[0]}" at ${i}: give an upper bound`;
        if (Number(m[3] ?? m[1]) > MAX_REPEAT) return `quantifier "${m[0]}" at ${i} above ${MAX_REPEAT}`;
        quantifier = true;
        i += m[0].length - 1;
      }
    }
    if (quantifier) {
      if (lastGroupQuantified && !optional) return `quantified group that holds a quantifier, at ${i}`;
      if (groups.length > 0) groups[groups.length - 1] = true;
    }
    lastGroupQuantified = false;
  }
  return null;
}

export function customDetector(name: string, pattern: string, caseInsensitive: boolean): Detector {
  const flags = caseInsensitive ? 'gi' : 'g';
  const problem = linearPatternProblem(pattern, flags);
  if (problem !== null) throw new Error(`custom detector ${name}: ${problem}`);
  const re = new RegExp(pattern, flags);
  return {
    name,
    label: name.toUpperCase().replaceAll('-', '_'),
    kind: 'custom',
    find(text: string, out: Match[]) {
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        if (m[0].length === 0) {
          re.lastIndex++; // an empty match would not advance
          continue;
        }
        out.push({ start: m.index, end: m.index + m[0].length, detector: name });
      }
    },
  };
}
