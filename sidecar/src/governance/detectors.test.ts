import { describe, expect, it } from 'vitest';
import { builtinDetector, detectAll, DETECTOR_PRIORITY, type Match } from './detectors.ts';
import { ibanValid, luhnValid } from './validators.ts';
import type { BuiltinDetector } from './schema.ts';

const all = (DETECTOR_PRIORITY as readonly BuiltinDetector[]).map((n) => builtinDetector(n));
const found = (text: string) => detectAll(all, text).map((m: Match) => [m.detector, text.slice(m.start, m.end)]);

describe('validators', () => {
  it('Luhn and mod-97 tell real numbers from look-alikes', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
  });
});

describe('detectors', () => {
  it('finds each kind in prose, at its exact span', () => {
    expect(found('mail alice.smith+x@mail.example.co.uk now')).toEqual([['email', 'alice.smith+x@mail.example.co.uk']]);
    expect(found('card 4111-1111-1111-1111, amex 3782 822463 10005')).toEqual([
      ['card', '4111-1111-1111-1111'],
      ['card', '3782 822463 10005'],
    ]);
    expect(found('IBAN GB82 WEST 1234 5698 7654 32.')).toEqual([['iban', 'GB82 WEST 1234 5698 7654 32']]);
    expect(found('SSN 123-45-6789')).toEqual([['ssn', '123-45-6789']]);
    expect(found('call +44 20 7946 0958 or (415) 555-2671')).toEqual([
      ['phone', '+44 20 7946 0958'],
      ['phone', '(415) 555-2671'],
    ]);
    expect(found('from 10.1.2.3 and 2001:db8::8a2e:370:7334')).toEqual([
      ['ipv4', '10.1.2.3'],
      ['ipv6', '2001:db8::8a2e:370:7334'],
    ]);
  });

  it('leaves look-alikes alone: invalid checksums, dates, versions, UUIDs, digests', () => {
    expect(found('card 4111 1111 1111 1112, IBAN GB82WEST12345698765433')).toEqual([]);
    expect(found('on 2024-01-15 at 10:30:00, v1.2.3.4, build 20.10.7, id 123e4567-e89b-12d3-a456-426614174000')).toEqual([]);
    expect(found('sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, std::vector and a::b')).toEqual([]);
    expect(found('SSN 000-12-3456 or 666-12-3456 or 900-12-3456').filter(([d]) => d === 'ssn')).toEqual([]); // never issued
  });

  it('a specific secret wins over the generic high-entropy one it overlaps', () => {
    const key = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGh';
    expect(found(`key=${key}`)).toEqual([['openai-key', key]]);
  });

  it('numeric spans and anchored secrets see the characters around them as in the whole text', () => {
    expect(found('+3312 3456')).toEqual([['phone', '+3312 3456']]); // eight digits after a +, at the very start
    expect(found('(0)30 1234 5678')).toEqual([['phone', '(0)30 1234 5678']]);
    expect(found('x+44 20 7946 0958')).toEqual([['phone', '20 7946 0958']]); // a + inside a word does not start one
    expect(found('n4111 1111 1111 1111')).toEqual([['card', '4111 1111 1111 1111']]);
    expect(found('14111 1111 1111 1111')).toEqual([]); // a card does not start inside a longer number
    expect(found('123-45-6789-')).toEqual([]);
    const gh = 'ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5';
    const pat = 'github_pat_aB3dE5fG7hI9jK1lM3nO5p_Q7rS9tU1vW3xY5';
    expect(found(`t=${gh} and ${pat}`)).toEqual([['github-token', gh], ['github-token', pat]]);
    expect(found(`x${gh}`)).toEqual([['high-entropy', `x${gh}`]]);
    expect(found('ask-aB3dE5fG7hI9jK1lM3nO5pQ7')).toEqual([['high-entropy', 'ask-aB3dE5fG7hI9jK1lM3nO5pQ7']]);
  });

  it('takes a PEM private key from BEGIN to END, and a lone BEGIN line alone', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIB\n-----END PRIVATE KEY-----';
    expect(found(`here: ${pem} done`)).toEqual([['private-key', pem]]);
    expect(found('-----BEGIN RSA PRIVATE KEY----- cut')).toEqual([['private-key', '-----BEGIN RSA PRIVATE KEY-----']]);
  });
});
