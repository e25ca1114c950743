import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseJsonBody, parseJsonBodyInTurns, storedBody } from './stored-body.ts';

// Tiny sizes: every body of these tests is parsed in turns and split into many pieces.
const TINY = { min: 0, turn: 16 };

/** The same value as JSON.parse builds it: members in the same order, own __proto__ members included. */
function same(a: unknown, b: unknown): void {
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  expect(a).toStrictEqual(b);
}

async function both(text: string): Promise<{ whole: unknown; turns: unknown }> {
  const buf = Buffer.from(text);
  return { whole: parseJsonBody(buf, 'application/json'), turns: await parseJsonBodyInTurns(buf, 'application/json', TINY) };
}

describe('parseJsonBodyInTurns: the value and verdict of parseJsonBody, a piece per turn', () => {
  it('builds what JSON.parse builds from any JSON object (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 30 }))), async (o) => {
        const text = JSON.stringify(o, null, Math.random() < 0.5 ? 1 : undefined);
        const { whole, turns } = await both(text);
        same(turns, whole);
        expect(storedBody(Buffer.from(text), turns)).toEqual(storedBody(Buffer.from(text), whole));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps JSON.parse\'s answer for duplicates, __proto__, member names with colons and integer-like names', async () => {
    for (const text of [
      '{"a":[1,2,3,4,5,6,7,8,9,10,11,12],"b":1,"a":[3]}',
      '{"a":1,"messages":[{"x":1},{"y":"a:b,c]"},{"z":[1,[2,[3]]]}],"a":2}',
      '{"__proto__":[1,2,3,4,5,6,7,8,9,10,11],"x":{"__proto__":1}}',
      '{"k:\\"[":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"2":0,"1":[0,0,0,0,0,0,0,0,0,0,0,0]}',
      ' \n{ "a" : [ 1 , 2 , 3 , 4 , 5 , 6 , 7 , 8 , 9 ] , "b" : "é😀\\u00e9" } \n',
    ]) {
      const { whole, turns } = await both(text);
      same(turns, whole);
      expect(Object.getPrototypeOf(turns)).toBe(Object.prototype);
      expect(storedBody(Buffer.from(text), turns)).toEqual(storedBody(Buffer.from(text), whole));
    }
  });

  it('refuses what JSON.parse refuses, however the pieces fall', async () => {
    for (const text of [
      '{"a":[1,2,3,4,5,6,7,8,9,10,],"b":1}',
      '{"a":[1,2,3,4,5,6,7,8,9,10,,11]}',
      '{"a":[1,2,3,4,5,6,7,8,9,10,11}',
      '{"a":1,"b":22222222222222,}',
      '{"a":1,,"b":2}',
      '{"a":1 "b":[1,2,3,4,5,6,7,8,9,10,11,12]}',
      '{"a":1,"b":2]',
      '{"a":1,"b":2} {}',
      '{"a":1,"b":2',
      '{"a":1,"b":"2}',
      '{1:[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}',
      '{"a":x[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}',
    ]) {
      const { whole, turns } = await both(text);
      expect(whole).toBeUndefined();
      expect(turns).toBeUndefined();
    }
  });

  it('says the same of bodies that do not round-trip', async () => {
    for (const text of ['{"a":[1,2,3,4,5,6,7,8,9,10,11],"a":[1]}', '{"m":[{"b":1,"b":2},1,2,3,4,5,6,7,8,9,10]}', '{"a":[1e400,2,3,4,5,6,7,8,9,10,11,12,13]}', '{"a":["\\ud800",2,3,4,5,6,7,8,9,10,11]}']) {
      const buf = Buffer.from(text);
      const { whole, turns } = await both(text);
      same(turns, whole);
      expect(storedBody(buf, turns)).toEqual(storedBody(buf, whole));
      expect(storedBody(buf, turns).json).toBe(false);
    }
  });

  it('takes a root that is not an object, or not JSON, as parseJsonBody does', async () => {
    for (const text of ['[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]', '"a long string of text, and more of it"', '12345678', 'not json at all, but long enough']) {
      const { whole, turns } = await both(text);
      same(turns, whole);
    }
  });

  it('decodes long strings a slice at a time to the same text, wherever the cuts fall (escapes, surrogate pairs, multi-byte characters)', async () => {
    // The content of a JSON string as sent: escapes of every kind, a pair as two escapes, UTF-8 of 2 to 4 bytes.
    const content = String.raw`é😀 \"quoted\" \\ back\\slash \n\t\u00e9\ud83d\ude00\u0041 \/ 中文 `.repeat(3);
    // And runs without a single escape, which are taken as they are (DEL is not a control character to JSON).
    const plain = `Données « reçues » 中文 😀 \x7f ${'plain text '.repeat(4)}`;
    // All ASCII, taken whole; and ASCII with an escape late, after runs already checked.
    const ascii = `${'plain ASCII text, no escape at all. '.repeat(3)}\x7f`;
    const lateEscape = `${'plain ASCII text '.repeat(4)}${String.raw`\"quoted\" \\ and \n`}`;
    for (let turn = 8; turn <= 40; turn++) {
      for (const text of [
        `{"messages":[{"role":"user","content":"${ascii}"},{"role":"user","content":"${lateEscape}"}],"system":"${ascii}${lateEscape}${ascii}"}`,
        `{"messages":[{"role":"user","content":"${plain}"},{"role":"user","content":"${plain}${content}${plain}"}],"model":"m"}`,
        `{"messages":[{"role":"user","content":"${content}"}],"model":"m"}`,
        `{"prompt":"${content}","${content}":1,"n":["${content}",{"x":["${content}"]}]}`,
        `{"a":"${content}","a":"${content}x","__proto__":"${content}"}`,
      ]) {
        const buf = Buffer.from(text);
        const whole = parseJsonBody(buf, 'application/json');
        expect(whole, text).toBeTypeOf('object');
        const turns = await parseJsonBodyInTurns(buf, 'application/json', { min: 0, turn, longString: 4 });
        same(turns, whole);
        expect(storedBody(buf, turns)).toEqual(storedBody(buf, whole));
      }
    }
  });

  it('refuses a long string JSON.parse refuses (a control character, a bad or cut-short escape), and finds a lone surrogate in one', async () => {
    // Control characters also where no escape is near, in runs otherwise taken as they are.
    const plainRun = 'plain text '.repeat(6);
    for (const bad of [String.raw`abc\u12`, String.raw`abc\x41defghijk`, `abc${String.fromCharCode(1)}defghijklmnop`, `${plainRun}\t${plainRun}`, `${plainRun}\n`, `${plainRun}${String.fromCharCode(0x1f)}${plainRun}`, `${plainRun}\0`]) {
      const text = `{"m":[{"content":"${'x'.repeat(30)}${bad}"}],"model":"m"}`;
      const { whole, turns } = await both(text);
      expect(whole, bad).toBeUndefined();
      expect(turns, bad).toBeUndefined();
    }
    const unterminated = `{"m":[{"content":"${'x'.repeat(40)}\\"}]}`;
    expect(parseJsonBody(Buffer.from(unterminated), 'application/json')).toBeUndefined();
    expect((await both(unterminated)).turns).toBeUndefined();
    const lone = `{"m":[{"content":"${'x'.repeat(40)}\\ud800${'y'.repeat(40)}"}]}`;
    const { whole, turns } = await both(lone);
    same(turns, whole);
    expect(storedBody(Buffer.from(lone), turns)).toEqual({ body: lone, rawReason: 'lone_surrogate', json: false });
  });

  it('builds what JSON.parse builds from objects of arbitrary strings, with long strings decoded apart (fast-check)', async () => {
    const str = fc.string({ unit: 'binary', maxLength: 60 });
    const value = fc.oneof(str, fc.array(fc.oneof(str, fc.dictionary(str, str, { maxKeys: 3 })), { maxLength: 6 }));
    await fc.assert(
      fc.asyncProperty(fc.dictionary(str, value), fc.integer({ min: 8, max: 64 }), async (o, turn) => {
        const text = JSON.stringify(o);
        const buf = Buffer.from(text);
        const whole = parseJsonBody(buf, 'application/json');
        const turns = await parseJsonBodyInTurns(buf, 'application/json', { min: 0, turn, longString: 2 });
        same(turns, whole);
        expect(storedBody(buf, turns)).toEqual(storedBody(buf, whole));
      }),
      { numRuns: 300 },
    );
  });
});
