/**
 * `llmaudit proxy` without `--key` on a laptop: reuse the signing key in the log directory, or
 * create one there on first use, so `llmaudit proxy --upstream http://127.0.0.1:11434` just works
 * (docs/configuration.md "Signing key"). In a pod the key always comes from the AuditPolicy's
 * Secret; this is never used there.
 *
 * The signer key (C2SP signed-note `PRIVATE+KEY+...`) is written 0600 with O_EXCL, so two
 * processes starting at once cannot overwrite each other's key; the verifier key goes beside it
 * as `<name>.vkey` for `llmaudit verify --key`.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSignerKey, parseSignerKey } from '../auditlog/signed-note.ts';
import { configError } from './validate.ts';

export interface StandaloneKey {
  keyFile: string;
  verifierKeyFile: string;
  verifierKey: string;
  signerKey: string;
  /** True when this call created the key. */
  created: boolean;
}

export function verifierKeyPath(keyFile: string): string {
  return keyFile.endsWith('.key') ? `${keyFile.slice(0, -4)}.vkey` : `${keyFile}.vkey`;
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw configError('LLMAUDIT_E_CONFIG_KEY', `${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** Reads the key at keyFile or creates it (named `name`, the log origin). */
export async function ensureSigningKey(keyFile: string, name: string): Promise<StandaloneKey> {
  const verifierKeyFile = verifierKeyPath(keyFile);
  let text = await readIfExists(keyFile);
  let created = false;
  if (text === null) {
    const fresh = generateSignerKey(name);
    try {
      await mkdir(path.dirname(keyFile), { recursive: true });
      await writeFile(keyFile, `${fresh.signerKey}\n`, { mode: 0o600, flag: 'wx' });
      text = `${fresh.signerKey}\n`;
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw configError('LLMAUDIT_E_CONFIG_KEY', `cannot create ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      text = await readIfExists(keyFile); // another process won the race: use its key
      if (text === null) throw configError('LLMAUDIT_E_CONFIG_KEY', `${keyFile} vanished while being created`);
    }
  }
  let signer;
  try {
    signer = parseSignerKey(text);
  } catch (err) {
    throw configError('LLMAUDIT_E_CONFIG_KEY', `${keyFile}: ${(err as Error).message}`, { cause: err });
  }
  if ((await readIfExists(verifierKeyFile))?.trim() !== signer.verifierKey) {
    try {
      await writeFile(verifierKeyFile, `${signer.verifierKey}\n`, { mode: 0o644 });
      await chmod(verifierKeyFile, 0o644);
    } catch (err) {
      throw configError('LLMAUDIT_E_CONFIG_KEY', `cannot write ${verifierKeyFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  }
  return { keyFile, verifierKeyFile, verifierKey: signer.verifierKey, signerKey: text.trim(), created };
}
