import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, numberRoundTrips, parseJsonBody, storedBody } from './stored-body.ts';

const store = (text: string) => {
  const buf = Buffer.from(text);
  return storedBody(buf, parseJsonBody(buf, 'application/json'));
};

describe('storedBody: JSON only when it round-trips', () => {
  it('keeps JSON that round-trips, whatever its whitespace, escapes and number spelling', () => {
    for (const t of ['{"a":1}', '{ "a" : [1.0, -0, 1e2, 0.5e-3, 1E+2] }', '{"e":"\\ud83d\\ude00 \\u00e9 \\/ \\\\ud800"}', '[{"a":{"b":[]}}]', '{"n":123456789012345,"f":0.1}']) {
      expect(store(t)).toMatchObject({ json: true });
      expect(store(t).rawReason).toBeUndefined();
    }
  });

  it('stores the text with the reason when it does not', () => {
    for (const [t, reason] of [
      ['{"a":"\\ud800"}', 'lone_surrogate'],
      ['{"a":"x\\udc00"}', 'lone_surrogate'],
      ['{"\\ud800":1}', 'lone_surrogate'],
      ['{"a":"\\ud83d\\u0041"}', 'lone_surrogate'],
      ['{"a":1e400}', 'number'],
      ['{"a":-1e-400}', 'number'],
      ['{"a":9007199254740993}', 'number'],
      ['{"a":0.10000000000000000555}', 'number'],
      ['{"a":1,"a":2}', 'duplicate_key'],
      ['[{"x":{"b":1,"b":1}}]', 'duplicate_key'],
      [`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`, 'depth'],
    ] as const) {
      expect(store(t), t).toEqual({ body: t, json: false, rawReason: reason });
    }
    expect(store(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`).json).toBe(true);
  });

  it('finds a lone surrogate exactly when a string is not well-formed, whichever characters are escaped (fast-check)', () => {
    const escapeSome = (json: string, every: number) => json.replace(/[^\x20-\x7e]/gu, (c) => (c.codePointAt(0) as number) % every !== 0 ? c : [...c].map((u) => [...Array(u.length).keys()].map((k) => `\\u${u.charCodeAt(k).toString(16).padStart(4, '0')}`).join('')).join(''));
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u))), maxLength: 12 }), { maxLength: 8 }), fc.integer({ min: 1, max: 3 }), (strings, every) => {
        const text = escapeSome(JSON.stringify({ s: strings }), every);
        const lone = strings.some((x) => /\p{Cs}/u.test(x));
        expect(store(text).rawReason === 'lone_surrogate', text).toBe(lone);
      }),
      { numRuns: 400 },
    );
  });

  it('a body parsed from bytes that are not UTF-8 is stored base64', () => {
    const buf = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(storedBody(buf, { a: '\ufffd' })).toEqual({ body: buf.toString('base64'), encoding: 'base64', json: false, rawReason: 'invalid_utf8' });
  });

  it('numberRoundTrips compares values, not spellings', () => {
    expect(numberRoundTrips('1.50')).toBe(true);
    expect(numberRoundTrips('15e-1')).toBe(true);
    expect(numberRoundTrips('1e21')).toBe(true);
    expect(numberRoundTrips('-0.0')).toBe(true);
    expect(numberRoundTrips('12345678901234567')).toBe(false);
    expect(numberRoundTrips('2e308')).toBe(false);
  });

  it('property: JSON.stringify of any JSON value is kept as JSON, equal to what was parsed', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const text = JSON.stringify(v);
        if (text === undefined || !/^\s*[[{]/.test(text)) return;
        const s = store(text);
        expect(s.json).toBe(true);
        expect(s.body).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });
});
