// `--key` takes a key file or the key text itself. A signer key given where a
// verifier key is expected is accepted too: its verifier key is derived from it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSignerKey, parseVerifierKey, type NoteSigner, type NoteVerifier } from '../auditlog/signed-note.ts';
import { cryptoError } from '../auditlog/crypto-errors.ts';

function keyText(value: string, cwd: string): string {
  try {
    return readFileSync(path.resolve(cwd, value), 'utf8').trim();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Not a file: the value is the key text itself (name+hexid+base64; names may contain '/').
    if (code === 'ENOENT' || code === 'ENAMETOOLONG' || code === 'ENOTDIR') return value.trim();
    throw cryptoError('LLMAUDIT_E_KEY_INVALID', `${value}: cannot read the key file (${code ?? String(err)})`, { cause: err });
  }
}

export function readVerifierKey(value: string, cwd: string): NoteVerifier {
  const text = keyText(value, cwd);
  if (text.startsWith('PRIVATE+KEY+')) return parseVerifierKey(parseSignerKey(text).verifierKey);
  return parseVerifierKey(text);
}

export function readSignerKey(value: string, cwd: string): NoteSigner {
  return parseSignerKey(keyText(value, cwd));
}
