// Error codes of the audit log's crypto and format modules: JCS, Merkle proofs, tiles, signed
// notes, checkpoints and cosignatures (docs/errors.md "Audit log: keys, signatures, proofs").
// Exit statuses follow the verifier table of docs/audit-log-format.md ("Verification"):
// 4 parse error, 5 signature invalid or wrong key; a bad key given on the command line is a
// usage problem (1), and an inclusion proof that does not verify means the entry presented is not
// the one the log committed to (3, "entry tampered").
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const CRYPTO_ERRORS = {
  LLMAUDIT_E_KEY_INVALID: { message: 'the key is not a valid signed-note key (file or text)', exit: 1 },
  LLMAUDIT_E_SIGNATURE_INVALID: { message: 'signature invalid or made with another key', exit: 5 },
  LLMAUDIT_E_CHECKPOINT_PARSE: { message: 'the checkpoint or signed note is malformed', exit: 4 },
  LLMAUDIT_E_ENTRY_INVALID: { message: 'the value cannot be canonicalized as RFC 8785 JSON', exit: 4 },
  LLMAUDIT_E_PROOF_INVALID: { message: 'the proof does not verify', exit: 3 },
  LLMAUDIT_E_TREE_RANGE: { message: 'tree size or leaf index out of range', exit: 1 },
  LLMAUDIT_E_TILE_INVALID: { message: 'a Merkle hash tile is corrupt', exit: 4 },
  LLMAUDIT_E_TILE_IO: { message: 'reading or writing a Merkle hash tile failed', exit: 1 },
} as const satisfies ErrorRegistry;

export type CryptoErrorCode = keyof typeof CRYPTO_ERRORS;
export const cryptoError = errorFactory(CRYPTO_ERRORS);
