// Checkpoints: C2SP tlog-checkpoint note text (origin, tree size, base64 root hash, optional
// extension lines) signed as a C2SP signed-note. We write no extension lines (the spec advises
// against them; time comes from witness cosignatures and segment seals) but keep those of others.
import { cryptoError } from './crypto-errors.ts';
import { HASH_SIZE } from './merkle.ts';
import { MAX_NOTE_SIGNATURES, checkNoteText, decodeBase64Strict, openNote, parseSignatureLine, signNote, splitNote, type NoteSignatureLine, type NoteSigner, type NoteVerifier } from './signed-note.ts';

export interface CheckpointBody {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Extension lines (without newlines); none in checkpoints we write. */
  extensions?: string[];
}

export interface ParsedCheckpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  extensions: string[];
}

export interface VerifiedCheckpoint extends ParsedCheckpoint {
  /** The signed note as given. */
  note: string;
  /** The note text (the checkpoint body), with its final newline. */
  text: string;
  /** Every signature line, verified or not (cosignatures by unknown witnesses stay unverified). */
  signatures: NoteSignatureLine[];
}

function parseError(detail: string): Error {
  return cryptoError('LLMAUDIT_E_CHECKPOINT_PARSE', detail);
}

export function formatCheckpointBody(body: CheckpointBody): string {
  const { origin, size, rootHash, extensions = [] } = body;
  if (origin.length === 0 || origin.includes('\n')) throw parseError('origin must be one non-empty line');
  if (!Number.isSafeInteger(size) || size < 0) throw parseError(`tree size ${size}`);
  if (rootHash.length !== HASH_SIZE) throw parseError(`root hash must be ${HASH_SIZE} bytes`);
  for (const e of extensions) if (e.length === 0 || e.includes('\n')) throw parseError('extension lines must be non-empty single lines');
  const text = [origin, String(size), Buffer.from(rootHash).toString('base64'), ...extensions].join('\n') + '\n';
  checkNoteText(text);
  return text;
}

/** Parses checkpoint note text (C2SP tlog-checkpoint "Note text"). Throws LLMAUDIT_E_CHECKPOINT_PARSE. */
export function parseCheckpointBody(text: string): ParsedCheckpoint {
  if (!text.endsWith('\n')) throw parseError('checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw parseError('a checkpoint has at least three lines: origin, size, root hash');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw parseError('empty origin line');
  // ASCII decimal without leading zeros, "0" for the empty tree.
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw parseError(`tree size ${JSON.stringify(sizeText)} is not a decimal without leading zeros`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw parseError(`tree size ${sizeText} is too large`);
  const rootHash = decodeBase64Strict(rootText);
  if (rootHash?.length !== HASH_SIZE) throw parseError('root hash line is not the base64 of 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw parseError('empty extension line');
  return { origin, size, rootHash, extensions };
}

/** Signs a checkpoint (its fields or its already formatted text) as a signed note. */
export function signCheckpoint(body: CheckpointBody | string, signer: NoteSigner): string {
  const text = typeof body === 'string' ? body : formatCheckpointBody(body);
  parseCheckpointBody(text);
  return signNote(text, signer);
}

/**
 * Verifies a signed checkpoint with the log's key and parses it. Throws
 * LLMAUDIT_E_CHECKPOINT_PARSE (malformed note or body) or LLMAUDIT_E_SIGNATURE_INVALID (a bad
 * signature by this key, or none by it: signed with another key).
 */
export function verifyCheckpoint(note: string, verifier: NoteVerifier): VerifiedCheckpoint {
  const opened = openNote(note, [verifier]);
  return { ...parseCheckpointBody(opened.text), note, text: opened.text, signatures: opened.signatures };
}

/**
 * Appends signature lines (e.g. witness cosignatures, "— name base64", with or without a final
 * newline) to a signed note; lines already present are not repeated.
 */
export function appendCosignatures(note: string, lines: string[]): string {
  const { lines: existing } = splitNote(note);
  const present = new Set(existing.map((l) => l.line));
  let out = note;
  let count = existing.length;
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    parseSignatureLine(line);
    if (present.has(line)) continue;
    if (++count > MAX_NOTE_SIGNATURES) throw parseError(`more than ${MAX_NOTE_SIGNATURES} signatures`);
    present.add(line);
    out += `${line}\n`;
  }
  return out;
}
