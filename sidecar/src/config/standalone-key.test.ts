import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSignerKey, signNote, openNote, parseVerifierKey } from '../auditlog/signed-note.ts';
import { ensureSigningKey, verifierKeyPath } from './standalone-key.ts';

describe('ensureSigningKey (standalone proxy without --key)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 0600 signer key and its verifier key on first use, and reuses them after', async () => {
    const keyFile = path.join(dir, 'logs', 'signing.key');
    const first = await ensureSigningKey(keyFile, 'llmaudit.dev/local/laptop');
    expect(first.created).toBe(true);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(first.verifierKeyFile).toBe(path.join(dir, 'logs', 'signing.vkey'));
    expect((await readFile(first.verifierKeyFile, 'utf8')).trim()).toBe(first.verifierKey);
    // The pair works: a note signed with the key opens with the verifier key.
    const note = signNote('hello\n', parseSignerKey(first.signerKey));
    expect(openNote(note, [parseVerifierKey(first.verifierKey)]).text).toBe('hello\n');

    const again = await ensureSigningKey(keyFile, 'another-name');
    expect(again).toMatchObject({ created: false, signerKey: first.signerKey, verifierKey: first.verifierKey });
  });

  it('rewrites a missing or stale verifier key from the signer key', async () => {
    const keyFile = path.join(dir, 'signing.key');
    const k = await ensureSigningKey(keyFile, 'n');
    await writeFile(k.verifierKeyFile, 'stale\n');
    await ensureSigningKey(keyFile, 'n');
    expect((await readFile(k.verifierKeyFile, 'utf8')).trim()).toBe(k.verifierKey);
  });

  it('a file that is not a signer key is LLMAUDIT_E_CONFIG_KEY, never overwritten', async () => {
    const keyFile = path.join(dir, 'signing.key');
    await writeFile(keyFile, 'not a key\n');
    await expect(ensureSigningKey(keyFile, 'n')).rejects.toMatchObject({ code: 'LLMAUDIT_E_CONFIG_KEY' });
    expect(await readFile(keyFile, 'utf8')).toBe('not a key\n');
  });

  it('names the verifier key file after the signer key file', () => {
    expect(verifierKeyPath('/k/a.key')).toBe('/k/a.vkey');
    expect(verifierKeyPath('/k/secret')).toBe('/k/secret.vkey');
  });
});
