import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody } from './decode-body.ts';
import { BodyCapture } from './body-capture.ts';
import { parseJsonBody, storedBody } from './stored-body.ts';

describe('decodeBody', () => {
  const text = Buffer.from('{"hello":"world"}');
  it.each([
    ['gzip', gzipSync(text)],
    ['br', brotliCompressSync(text)],
    ['deflate', deflateSync(text)],
    ['deflate', deflateRawSync(text)],
  ])('decodes %s', async (enc, buf) => {
    const r = await decodeBody(buf, enc, 1024);
    expect(r.ok && r.buf.equals(text)).toBe(true);
  });

  it('stops a decompression bomb at the decoded-size cap', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect(await decodeBody(bomb, 'gzip', 1024 * 1024)).toEqual({ ok: false, reason: 'decoded_cap' });
  });

  it('reports garbage and unknown codings', async () => {
    expect(await decodeBody(Buffer.from('not gzip'), 'gzip', 1024)).toEqual({ ok: false, reason: 'decode_error' });
    expect(await decodeBody(text, 'zstd', 1024)).toEqual({ ok: false, reason: 'unsupported' });
  });
});

describe('BodyCapture', () => {
  it('digests every byte but keeps only bodies under the cap', () => {
    const c = new BodyCapture(4);
    c.push(Buffer.from('ab'));
    c.push(Buffer.from('cd'));
    expect(c.peek()?.toString()).toBe('abcd');
    c.push(Buffer.from('e'));
    const r = c.finish();
    expect(r).toMatchObject({ buf: null, bytes: 5, truncated: true, sha256: '36bbe50ed96841d10443bcb670d6554f0a34b761be67ec9c4a8ad2c0c44ca42c' });
  });
});

describe('storedBody', () => {
  it('stores JSON as JSON, text as a string, invalid UTF-8 as base64', () => {
    const json = Buffer.from('{"a":1}');
    expect(storedBody(json, parseJsonBody(json, 'application/json'))).toEqual({ body: { a: 1 }, json: true });
    const bad = Buffer.from('{"a":'); // claims JSON, does not parse
    expect(parseJsonBody(bad, 'application/json')).toBeUndefined();
    expect(storedBody(bad, undefined)).toEqual({ body: '{"a":', json: false });
    const binary = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect(parseJsonBody(binary, 'application/json')).toBeUndefined();
    expect(storedBody(binary, undefined)).toEqual({ body: binary.toString('base64'), encoding: 'base64', json: false });
  });
});
