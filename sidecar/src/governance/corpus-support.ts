/**
 * The detector corpus (tests and benchmarks only: @faker-js/faker is a devDependency). Positive
 * samples plant one value of a known kind in a sentence, across faker's locales; negative samples
 * are prose and the look-alikes detectors must leave alone: UUIDs, digests, timestamps, version
 * strings, order and invoice numbers, prices, paths, pod names. Seeded, so every run is the same.
 */
import { allFakers, type Faker } from '@faker-js/faker';
import { createHash, generateKeyPairSync } from 'node:crypto';

export interface Sample {
  text: string;
  /** The detector the planted value belongs to, and where it is; null for a negative sample. */
  expect: { detector: string; start: number; end: number } | null;
}

const LOCALES = ['en_US', 'en_GB', 'de', 'fr', 'es', 'it', 'pt_BR', 'nl', 'pl', 'sv', 'en_IN', 'en_AU', 'ja'] as const;

function plant(f: Faker, detector: string, value: string): Sample {
  const before = `${f.lorem.sentence()} ${f.helpers.arrayElement(['Contact:', 'See', 'value', 'ref', 'It is', 'use'])} `;
  return { text: `${before}${value} ${f.lorem.words(4)}.`, expect: { detector, start: before.length, end: before.length + value.length } };
}

function ssn(f: Faker): string {
  let area = f.number.int({ min: 1, max: 899 });
  if (area === 666) area = 667;
  const group = f.number.int({ min: 1, max: 99 });
  const serial = f.number.int({ min: 1, max: 9999 });
  return `${String(area).padStart(3, '0')}-${String(group).padStart(2, '0')}-${String(serial).padStart(4, '0')}`;
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

export function positiveSamples(seed = 1): Sample[] {
  const out: Sample[] = [];
  let k = 0;
  const next = (): Faker => {
    const f = allFakers[LOCALES[k++ % LOCALES.length] as (typeof LOCALES)[number]];
    return f;
  };
  for (const f of LOCALES.map((l) => allFakers[l])) f.seed(seed);
  for (let i = 0; i < 65; i++) {
    const f = next();
    out.push(plant(f, 'email', f.internet.email()));
  }
  for (let i = 0; i < 78; i++) {
    const f = next();
    const style = i % 3 === 0 ? 'international' : 'national';
    out.push(plant(f, 'phone', f.phone.number({ style })));
  }
  for (let i = 0; i < 60; i++) {
    const f = next();
    const issuer = f.helpers.arrayElement(['visa', 'mastercard', 'amex', 'discover', 'jcb']);
    const raw = f.finance.creditCardNumber(issuer).replace(/\D/g, '');
    const fmt = i % 3;
    out.push(plant(f, 'card', fmt === 0 ? raw : fmt === 1 ? raw.replace(/(\d{4})(?=\d)/g, '$1 ') : raw.replace(/(\d{4})(?=\d)/g, '$1-')));
  }
  for (let i = 0; i < 52; i++) {
    const f = next();
    const iban = f.finance.iban();
    out.push(plant(f, 'iban', i % 2 === 0 ? iban : iban.replace(/(.{4})(?=.)/g, '$1 ')));
  }
  for (let i = 0; i < 40; i++) out.push(plant(next(), 'ssn', ssn(next())));
  for (let i = 0; i < 40; i++) {
    const f = next();
    out.push(plant(f, 'ipv4', f.internet.ipv4()));
  }
  for (let i = 0; i < 40; i++) {
    const f = next();
    const full = f.internet.ipv6();
    // Half of them compressed the way people write them (RFC 5952: longest zero run as ::).
    out.push(plant(f, 'ipv6', i % 2 === 0 ? full : full.split(':').slice(0, 3).join(':') + '::' + full.split(':').slice(6).join(':')));
  }
  for (let i = 0; i < 25; i++) {
    const f = next();
    const key = i % 2 === 0 ? `sk-proj-${f.string.alphanumeric(48)}_${f.string.alphanumeric(40)}` : `sk-${f.string.alphanumeric(20)}T3BlbkFJ${f.string.alphanumeric(20)}`;
    out.push(plant(f, 'openai-key', key));
  }
  for (let i = 0; i < 20; i++) {
    const f = next();
    out.push(plant(f, 'anthropic-key', `sk-ant-api03-${f.string.alphanumeric(93)}AA`));
  }
  for (let i = 0; i < 20; i++) {
    const f = next();
    out.push(plant(f, 'aws-key', `${f.helpers.arrayElement(['AKIA', 'ASIA'])}${f.string.fromCharacters('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`));
  }
  for (let i = 0; i < 20; i++) {
    const f = next();
    out.push(plant(f, 'github-token', i % 2 === 0 ? `ghp_${f.string.alphanumeric(36)}` : `github_pat_${f.string.alphanumeric(22)}_${f.string.alphanumeric(59)}`));
  }
  for (let i = 0; i < 20; i++) {
    const f = next();
    const jwt = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: f.string.uuid(), name: f.person.fullName(), iat: 1700000000 + i }))}.${f.string.alphanumeric(43)}`;
    out.push(plant(f, 'jwt', jwt));
  }
  for (let i = 0; i < 8; i++) {
    const f = next();
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString().trim();
    out.push(plant(f, 'private-key', pem));
  }
  for (let i = 0; i < 20; i++) {
    const f = next();
    out.push(plant(f, 'high-entropy', f.string.fromCharacters('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 40)));
  }
  return out;
}

export function negativeSamples(seed = 2): Sample[] {
  const out: Sample[] = [];
  const f = allFakers.en_US;
  f.seed(seed);
  const say = (s: string) => out.push({ text: s, expect: null });
  for (let i = 0; i < 120; i++) {
    const loc = allFakers[LOCALES[i % LOCALES.length] as (typeof LOCALES)[number]];
    loc.seed(seed + i);
    say(`${loc.lorem.paragraph()} ${loc.company.catchPhrase()}.`);
  }
  for (let i = 0; i < 60; i++) say(`request id ${f.string.uuid()} failed; retry with trace ${f.string.uuid()}`);
  for (let i = 0; i < 60; i++) {
    const s = f.string.alphanumeric(12);
    say(`sha256 ${createHash('sha256').update(s).digest('hex')} md5 ${createHash('md5').update(s).digest('hex')} commit ${createHash('sha1').update(s).digest('hex').slice(0, i % 2 === 0 ? 40 : 7)}`);
  }
  for (let i = 0; i < 60; i++) {
    const d = f.date.recent({ days: 400 });
    say(`created ${d.toISOString()} (${Math.floor(d.getTime() / 1000)}, ${d.getTime()} ms) at ${d.toISOString().slice(11, 19)} on ${d.toISOString().slice(0, 10)} or ${d.toLocaleDateString('de-DE')}`);
  }
  for (let i = 0; i < 60; i++) say(`upgrade from v${f.system.semver()} to ${f.system.semver()} (node ${f.number.int({ min: 14, max: 24 })}.${f.number.int(20)}.${f.number.int(9)}, build v${f.system.semver()}.${f.number.int(99)})`);
  for (let i = 0; i < 60; i++) {
    say(`order ORD-${f.number.int({ min: 2019, max: 2026 })}-${String(f.number.int(999999)).padStart(6, '0')} invoice INV${f.string.numeric(8)} #${f.string.numeric(6)} PO ${f.string.numeric(10)} tracking 1Z${f.string.alphanumeric({ length: 16, casing: 'upper' })}`);
  }
  for (let i = 0; i < 40; i++) say(`total ${f.finance.amount({ symbol: '$' })} for ${f.number.int(50)} items, ${f.number.float({ min: 0, max: 100, fractionDigits: 4 })}% off, weight ${f.number.float({ max: 10, fractionDigits: 3 })} kg, took 00:${String(f.number.int(59)).padStart(2, '0')}:${String(f.number.int(59)).padStart(2, '0')}`);
  for (let i = 0; i < 40; i++) say(`see ${f.system.filePath()} and ${f.internet.url()}/${f.system.fileName()} on host ${f.internet.domainName()} port ${f.internet.port()}`);
  for (let i = 0; i < 40; i++) say(`pod ${f.word.noun()}-${f.string.alphanumeric({ length: 10, casing: 'lower' })}-${f.string.alphanumeric({ length: 5, casing: 'lower' })} image sha256:${createHash('sha256').update(String(i)).digest('hex')} color ${f.color.rgb()}`);
  for (let i = 0; i < 40; i++) say(`const ${f.hacker.noun()}Handler = new ${f.hacker.abbreviation()}${f.hacker.noun().replace(/\s/g, '')}Factory(); // ${f.hacker.phrase()} std::vector<int> map::at`);
  return out;
}
