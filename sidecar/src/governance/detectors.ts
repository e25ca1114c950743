/**
 * Personal-data and secret detectors over one text. Each is a regex that finds candidates and a
 * validator that confirms them (Luhn, mod-97, entropy, a decodable JWT header...).
 *
 * Every pattern must match in time linear in the text (docs/adr/0015-governance-enforcement.md):
 * JavaScript's engine backtracks, so no quantifier is unbounded and none is nested with another
 * that can match the same characters; a pattern that starts with a repeated class is guarded by a
 * lookbehind so that it is tried once per run, not once per character of the run. The lookbehind
 * follows the first character (`s(?<![\w-]s)k-…`): the engine then skips ahead to that character
 * instead of testing a lookbehind at every position. The adversarial
 * test (detectors.adversarial.test.ts) runs each one over 1 MiB of its worst input.
 */
import type { BuiltinDetector } from './schema.ts';
import { cardPrefixValid, digitsOf, ibanValid, ipv4Valid, ipv6Valid, jwtHeaderValid, luhnValid, shannonEntropy } from './validators.ts';

export interface Match {
  start: number;
  end: number;
  detector: string;
}

export interface Detector {
  readonly name: string;
  /** Label in redaction tokens: `[EMAIL:3f9a1c2e]`. */
  readonly label: string;
  readonly kind: 'personal' | 'secret' | 'custom';
  /**
   * Appends the matches in `text` to `out`, in order. `scan` holds what several detectors share
   * about `text` (its numeric runs), computed once; without it the detector computes its own.
   */
  find(text: string, out: Match[], scan?: TextScan): void;
}

/**
 * What several detectors need from one text, computed on first use and then shared: the numeric
 * runs, where every card, phone number and SSN lies. Card, phone and SSN patterns then run on
 * these few short spans instead of each rescanning the whole text from every digit.
 */
const NUMERIC = new Uint8Array(128); // digits and the separators of cards and phone numbers: 0-9 space . ( ) + -
for (const ch of '0123456789 .()+-') NUMERIC[ch.charCodeAt(0)] = 1;

export class TextScan {
  #runs: number[] | undefined;
  constructor(readonly text: string) {}

  /**
   * [start, end) pairs: each maximal run of digits and separators (` .()+-`) that holds at least
   * 9 digits, or 8 after a `+`, from its first digit (or that `+`) to its last digit. A phone
   * number (its validator wants 9 to 12 digits, or 8 to 15 after a `+`), a card (12 or more) or an
   * SSN (9) lies inside one of them, apart from the `(` just before its first digit. Linear:
   * A scanner that skips like Boyer–Moore (as the high-entropy one does): a qualifying run is at
   * least 9 characters long, so when position i + 8 is not in the run alphabet nothing from i to
   * it can start one. Each character is read at most about twice.
   */
  numericRuns(): readonly number[] {
    if (this.#runs !== undefined) return this.#runs;
    const runs: number[] = [];
    const t = this.text;
    const n = t.length;
    let i = 0; // t[i - 1] is never in the alphabet (or i = 0)
    while (i + 9 <= n) {
      const j = i + 8;
      if (!is(NUMERIC, t.charCodeAt(j))) {
        i = j + 1;
        continue;
      }
      let s = j;
      while (s > i && is(NUMERIC, t.charCodeAt(s - 1))) s--;
      let e = j + 1;
      while (e < n && is(NUMERIC, t.charCodeAt(e))) e++;
      let digits = 0;
      let first = -1;
      let last = -1;
      for (let k = s; k < e; k++) {
        const c = t.charCodeAt(k);
        if (c >= 48 && c <= 57) {
          digits++;
          if (first < 0) first = k;
          last = k;
        }
      }
      if (digits >= 9 || (digits === 8 && first > 0 && t.charCodeAt(first - 1) === 43)) runs.push(first, last + 1);
      i = e + 1;
    }
    this.#runs = runs;
    return runs;
  }
}

interface RegexDetector {
  name: BuiltinDetector;
  label: string;
  kind: 'personal' | 'secret';
  re: RegExp;
  /** A cheap test the text must pass before the regex runs. */
  pre?: (text: string) => boolean;
  valid?: (m: string) => boolean;
  /**
   * Every valid match lies in a numeric run (TextScan.numericRuns) or starts one character before it,
   * and its pattern looks at most two characters past its end: the regex runs on each run only,
   * with two characters of context either side, so each lookaround sees what it would see in the
   * whole text.
   */
  numeric?: boolean;
  /**
   * Every match holds this literal `back` characters (one of them) after its start: the regex
   * (sticky) is tried only there. A one- or two-character search finds the anchors far faster than
   * the regex or a search for a longer literal that starts with a common letter.
   */
  anchor?: { text: string; back: readonly number[] };
}

function regexDetector(d: RegexDetector): Detector {
  const { re, pre, valid, name } = d;
  if (d.numeric === true) {
    return {
      name,
      label: d.label,
      kind: d.kind,
      find(text, out, scan) {
        const runs = (scan ?? new TextScan(text)).numericRuns();
        for (let k = 0; k < runs.length; k += 2) {
          const base = Math.max(0, (runs[k] as number) - 2);
          const span = text.slice(base, (runs[k + 1] as number) + 2);
          re.lastIndex = 0;
          let m: RegExpExecArray | null;
          while ((m = re.exec(span)) !== null) {
            const s = m[0];
            if (valid === undefined || valid(s)) out.push({ start: base + m.index, end: base + m.index + s.length, detector: name });
          }
        }
      },
    };
  }
  const anchor = d.anchor;
  if (anchor !== undefined) {
    const sticky = new RegExp(re.source, 'y');
    return {
      name,
      label: d.label,
      kind: d.kind,
      find(text, out) {
        if (pre !== undefined && !pre(text)) return;
        // As the global regex would: each match found (valid or not) ends the search before it.
        let from = 0;
        let i = -1;
        while ((i = text.indexOf(anchor.text, i + 1)) >= 0) {
          for (const b of anchor.back) {
            const start = i - b;
            if (start < from) continue;
            sticky.lastIndex = start;
            const m = sticky.exec(text);
            if (m === null) continue;
            const s = m[0];
            if (valid === undefined || valid(s)) out.push({ start, end: start + s.length, detector: name });
            from = start + s.length;
            if (i < from) i = from - 1;
            break;
          }
        }
      },
    };
  }
  return {
    name,
    label: d.label,
    kind: d.kind,
    find(text, out) {
      if (pre !== undefined && !pre(text)) return;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        const s = m[0];
        if (valid === undefined || valid(s)) out.push({ start: m.index, end: m.index + s.length, detector: name });
      }
    },
  };
}

const hasDigit = (t: string): boolean => /\d/.test(t);

// Dates and times that the phone candidate would otherwise take (2024-01-15, 15.01.2024, 2024 01 15).
const DATE_LIKE = /^(?:\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{4})/;
const US_NATIONAL = /^(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}$/;

function phoneValid(s: string): boolean {
  const d = digitsOf(s);
  if (s[0] === '+') return d.length >= 8 && d.length <= 15;
  if (d.length < 9 || d.length > 12) return false;
  // A bare run of digits is as likely an order, account or ticket number: only written-out
  // numbers (separators, parentheses) count nationally; E.164 (+) always does.
  if (d.length === s.length) return false;
  if (DATE_LIKE.test(s)) return false;
  if (US_NATIONAL.test(s)) return true;
  // National trunk prefix 0 (most of Europe, Asia, Oceania), with or without an area code in parentheses.
  if (s[0] === '0' || s.startsWith('(0')) return true;
  // Three or more separated groups (es "962 113 841", pl "65 503 58 20"): more than a plain number.
  let groups = 1;
  for (let i = 0; i < s.length; i++) if (s[i] === ' ' || s[i] === '-' || s[i] === '.') groups++;
  return groups >= 3 && !s.includes('.');
}

function cardValid(s: string): boolean {
  // One separator style throughout: "4111 1111-1111 1111" is not how cards are written.
  if (s.includes(' ') && s.includes('-')) return false;
  const d = digitsOf(s);
  return d.length >= 12 && d.length <= 19 && cardPrefixValid(d) && luhnValid(d);
}

function highEntropyValid(s: string): boolean {
  if (/^sha\d{1,3}-/.test(s)) return false; // Subresource Integrity / npm integrity digests
  let lower = false;
  let upper = false;
  let digit = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = true;
    else if (c >= 65 && c <= 90) upper = true;
    else if (c >= 48 && c <= 57) digit = true;
  }
  if (!(lower && upper && digit)) return false; // hex digests and UUIDs lack one of the three
  const threshold = Math.min(4.5, 0.85 * Math.log2(s.length));
  return shannonEntropy(s) >= threshold;
}

const BUILTINS: readonly Detector[] = [
  privateKeyDetector(),
  regexDetector({
    name: 'jwt',
    label: 'JWT',
    kind: 'secret',
    re: /e(?<![\w-]e)yJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{16,4096}(?![\w-])/g,
    anchor: { text: 'yJ', back: [1] },
    valid: jwtHeaderValid,
  }),
  regexDetector({
    name: 'anthropic-key',
    label: 'ANTHROPIC_KEY',
    kind: 'secret',
    re: /s(?<![\w-]s)k-ant-(?:api|admin|oat|sid)\d\d-[A-Za-z0-9_-]{20,200}(?![\w-])/g,
    anchor: { text: 'k-ant-', back: [1] },
  }),
  regexDetector({
    name: 'openai-key',
    label: 'OPENAI_KEY',
    kind: 'secret',
    re: /s(?<![\w-]s)k-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,250}(?![\w-])/g,
    anchor: { text: 'k-', back: [1] },
    // Real keys are random: digits and both cases. "sk-this-is-not-a-key-at-all" is prose.
    valid: (s) => /\d/.test(s) && /[a-z]/.test(s) && /[A-Z]/.test(s),
  }),
  regexDetector({
    name: 'github-token',
    label: 'GITHUB_TOKEN',
    kind: 'secret',
    re: /g(?<![\w-]g)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,255})(?![\w-])/g,
    // gh?_ and github_pat_: the underscore three or six characters in.
    anchor: { text: '_', back: [3, 6] },
  }),
  regexDetector({
    name: 'aws-key',
    label: 'AWS_KEY',
    kind: 'secret',
    // Access key ids: a four-letter type prefix and 16 base32 characters (AWS IAM "Unique identifiers").
    re: /A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|IDA|ROA|IPA|NPA|NVA|GPA|PKA)[A-Z2-7]{16}(?![A-Za-z0-9])/g,
    pre: (t) => t.includes('A'),
  }),
  regexDetector({
    name: 'card',
    label: 'CARD',
    kind: 'personal',
    re: /\d(?<![\d-]\d)(?:[ -]?\d){11,18}(?![\d-])/g,
    numeric: true,
    valid: cardValid,
  }),
  regexDetector({
    name: 'iban',
    label: 'IBAN',
    kind: 'personal',
    re: /[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])/g,
    pre: hasDigit,
    valid: (s) => ibanValid(s.replaceAll(' ', '')),
  }),
  emailDetector(),
  regexDetector({
    name: 'ssn',
    label: 'SSN',
    kind: 'personal',
    // SSA: area 000, 666 and 900–999, group 00 and serial 0000 are never issued.
    re: /\d(?<![\d-]\d)\d\d-\d\d-\d{4}(?![\d-])/g,
    valid: (m) => !/^(?:000|666|9)/.test(m) && !m.startsWith('00', 4) && !m.endsWith('0000'),
    numeric: true,
  }),
  regexDetector({
    name: 'phone',
    label: 'PHONE',
    kind: 'personal',
    // Each start's lookbehind follows its first characters, so the engine can skip to candidate
    // starts instead of testing a lookbehind at every position.
    re: /(?:\+\d(?<![\w+.\-/]\+\d)|\(\d(?<![\w+.\-/]\(\d)|\d(?<![\w+.\-/]\d))[\d .()-]{6,20}\d(?![\w-]|\.\d)/g,
    numeric: true,
    valid: phoneValid,
  }),
  ipv6Detector(),
  regexDetector({
    name: 'ipv4',
    label: 'IPV4',
    kind: 'personal',
    re: /\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)/g,
    valid: ipv4Valid,
    pre: (t) => t.includes('.'),
  }),
  highEntropyDetector(),
];

/**
 * PEM private keys (RFC 7468 §10, and the OpenSSH/encrypted variants): from the BEGIN line to the
 * END line. A scanner, not a regex: a lazy match up to END would rescan the text for every BEGIN.
 */
function privateKeyDetector(): Detector {
  const begin = /-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY-----/g;
  return {
    name: 'private-key',
    label: 'PRIVATE_KEY',
    kind: 'secret',
    find(text, out) {
      if (!text.includes('BEGIN') || !text.includes('-----BEGIN')) return; // 'B' is rarer than '-'
      begin.lastIndex = 0;
      let nextEnd = -2; // -2: not searched yet; -1: none after the last search point
      let m: RegExpExecArray | null;
      while ((m = begin.exec(text)) !== null) {
        const from = m.index + m[0].length;
        if (nextEnd !== -1 && nextEnd < from) nextEnd = text.indexOf('-----END ', from);
        let end = from;
        if (nextEnd >= 0) {
          const close = text.indexOf('-----', nextEnd + 9);
          end = close < 0 ? nextEnd + 9 : close + 5;
        }
        out.push({ start: m.index, end, detector: 'private-key' });
        begin.lastIndex = end;
      }
    },
  };
}

// Character classes for the scanners below, by char code.
const HEX_OR_COLON = new Uint8Array(128);
const WORD = new Uint8Array(128);
const TOKEN = new Uint8Array(128); // base64 / base64url / key alphabets: A-Z a-z 0-9 + / _ = -
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9A-Fa-f:]/.test(ch)) HEX_OR_COLON[c] = 1;
  if (/\w/.test(ch)) WORD[c] = 1;
  if (/[A-Za-z0-9+/_=-]/.test(ch)) TOKEN[c] = 1;
}
const is = (table: Uint8Array, c: number): boolean => c < 128 && table[c] === 1;

const LOCAL = new Uint8Array(128);
for (let c = 0; c < 128; c++) if (/[A-Za-z0-9._%+-]/.test(String.fromCharCode(c))) LOCAL[c] = 1;
// RFC 5321 §4.5.3.1: labels ≤ 63 octets; a TLD of letters.
const DOMAIN = /(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/y;

/**
 * Email addresses, found from their `@`: the local part (≤ 64 characters, RFC 5321 §4.5.3.1)
 * is read backwards from it, the domain matched forwards. Text without `@` costs one indexOf.
 */
function emailDetector(): Detector {
  return {
    name: 'email',
    label: 'EMAIL',
    kind: 'personal',
    find(text, out) {
      let from = 0;
      let floor = 0; // the previous match's end: a local part never reaches back into it
      let i: number;
      while ((i = text.indexOf('@', from)) >= 0) {
        from = i + 1;
        let s = i;
        while (s > floor && i - s < 64 && is(LOCAL, text.charCodeAt(s - 1))) s--;
        if (s === i || (s > 0 && is(LOCAL, text.charCodeAt(s - 1)))) continue; // empty, or longer than 64
        DOMAIN.lastIndex = i + 1;
        const m = DOMAIN.exec(text);
        if (m === null) continue;
        const end = i + 1 + m[0].length;
        out.push({ start: s, end, detector: 'email' });
        from = floor = end;
      }
    },
  };
}

/**
 * IPv6 addresses: every run of hex digits and colons (up to 39, the longest text form) around a
 * colon, not inside a longer word, confirmed by the address parser. A scanner from colon to colon:
 * in prose most positions are letters a–f, where a regex would try a match at each one.
 */
function ipv6Detector(): Detector {
  return {
    name: 'ipv6',
    label: 'IPV6',
    kind: 'personal',
    find(text, out) {
      let from = 0;
      let i: number;
      while ((i = text.indexOf(':', from)) >= 0) {
        // Never back over what the previous window read: each character is looked at about twice.
        let s = i;
        while (s > from && i - s < 38 && is(HEX_OR_COLON, text.charCodeAt(s - 1))) s--;
        let e = i + 1;
        while (e < text.length && e - s < 39 && is(HEX_OR_COLON, text.charCodeAt(e))) e++;
        from = e;
        const before = s > 0 ? text.charCodeAt(s - 1) : 32;
        const after = e < text.length ? text.charCodeAt(e) : 32;
        if (is(WORD, before) || before === 58 || before === 46 || is(WORD, after) || after === 58) continue;
        if (e - s >= 2 && ipv6Valid(text.slice(s, e))) out.push({ start: s, end: e, detector: 'ipv6' });
      }
    },
  };
}

/**
 * Generic secrets: runs of 24 to 512 characters of the key alphabets with all of lower case,
 * upper case and digits and a high Shannon entropy. A scanner over runs (a regex would start a
 * match at every letter of every word).
 */
function highEntropyDetector(): Detector {
  return {
    name: 'high-entropy',
    label: 'SECRET',
    kind: 'secret',
    find(text, out) {
      // Skips like Boyer–Moore: a run of 24 or more covers position i + 23, so when that one is
      // not in the alphabet nothing from i to it can start a candidate. text[i - 1] is never in
      // the alphabet here (or i = 0): i only moves just past a character that is not.
      const n = text.length;
      let i = 0;
      while (i + 24 <= n) {
        const j = i + 23;
        if (!is(TOKEN, text.charCodeAt(j))) {
          i = j + 1;
          continue;
        }
        let s = j;
        while (s > i && is(TOKEN, text.charCodeAt(s - 1))) s--;
        let e = j + 1;
        while (e < n && is(TOKEN, text.charCodeAt(e))) e++;
        const len = e - s;
        if (len >= 24 && len <= 512 && highEntropyValid(text.slice(s, e))) out.push({ start: s, end: e, detector: 'high-entropy' });
        i = e + 1;
      }
    },
  };
}

export function builtinDetector(name: BuiltinDetector): Detector {
  const d = BUILTINS.find((x) => x.name === name);
  if (d === undefined) throw new Error(`no built-in detector ${name}`);
  return d;
}

/** Priority when two detections overlap: the earlier in this list wins (specific before generic). */
export const DETECTOR_PRIORITY: readonly string[] = BUILTINS.map((d) => d.name);

/**
 * Runs `detectors` over `text` and resolves overlaps: a match wholly or partly inside one of a
 * detector earlier in the list is dropped (an API key is not also a "high-entropy" secret).
 * Accepted matches stay sorted and disjoint, so each check is a binary search: linear overall.
 */
export function detectAll(detectors: readonly Detector[], text: string): Match[] {
  let accepted: Match[] = [];
  const found: Match[] = [];
  const scan = new TextScan(text);
  for (const d of detectors) {
    found.length = 0;
    d.find(text, found, scan);
    if (found.length === 0) continue;
    if (accepted.length === 0) {
      accepted = found.slice();
      continue;
    }
    const merged: Match[] = [];
    let i = 0;
    for (const m of found) {
      while (i < accepted.length && (accepted[i] as Match).end <= m.start) merged.push(accepted[i++] as Match);
      // accepted[i] is the first whose end is past m.start: m overlaps it iff it starts before m ends.
      if (i < accepted.length && (accepted[i] as Match).start < m.end) continue;
      if (merged.length > 0 && (merged[merged.length - 1] as Match).end > m.start) continue;
      merged.push(m);
    }
    while (i < accepted.length) merged.push(accepted[i++] as Match);
    accepted = merged;
  }
  return accepted;
}
