/**
 * Checksums and measures that turn a regex candidate into a detection: Luhn (ISO/IEC 7812-1
 * Annex B) for payment cards, ISO 7064 mod-97-10 (ISO 13616) for IBANs, Shannon entropy for
 * generic secrets. Each runs in time linear in its input.
 */
import { isIPv6 } from 'node:net';

/** Luhn over the digits of `s` (separators ignored). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    const c = digits.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return false;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Issuer prefixes of the card networks (ISO/IEC 7812 IIN ranges as published by the networks):
 * Visa 4; Mastercard 51–55, 2221–2720; Amex 34, 37; Discover 6011, 644–649, 65; JCB 3528–3589;
 * Diners 300–305, 36, 38, 39; UnionPay 62; Maestro 50, 56–58, 63, 67.
 */
export function cardPrefixValid(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16;
  if (p2 === 34 || p2 === 37) return n === 15;
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65) return n >= 16 && n <= 19;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19;
  if (p2 === 62) return n >= 16 && n <= 19;
  if (p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 63 || p2 === 67) return n >= 12 && n <= 19;
  return false;
}

/** ISO 13616 check: move the first four characters to the end, letters → 10..35, remainder mod 97 is 1. */
export function ibanValid(compact: string): boolean {
  const n = compact.length;
  if (n < 15 || n > 34) return false;
  let rem = 0;
  for (let k = 0; k < n; k++) {
    const c = compact.charCodeAt((k + 4) % n);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const k of counts.values()) {
    const p = k / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Four decimal octets 0–255 without leading zeros (a zero-padded group is a version or a code). */
export function ipv4Valid(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => p.length > 0 && (p.length === 1 || p[0] !== '0') && Number(p) <= 255);
}

/** An IPv6 address with at least three written groups (so `a::b` in code is not one). */
export function ipv6Valid(s: string): boolean {
  if (!isIPv6(s)) return false;
  let groups = 0;
  for (const g of s.split(':')) if (g !== '') groups++;
  return groups >= 3;
}

/** The payload of a JWT's first segment names an algorithm (RFC 7515 §4.1.1). */
export function jwtHeaderValid(token: string): boolean {
  const dot = token.indexOf('.');
  if (dot < 0) return false;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** Digits of a candidate, without separators. */
export function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
  }
  return out;
}
