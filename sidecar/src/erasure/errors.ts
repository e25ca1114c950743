// Error codes of erasure and retention (docs/errors.md "Erasure and retention").
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const ERASURE_ERRORS = {
  LLMAUDIT_E_ERASE_INVALID: { message: 'the erasure request is invalid', exit: 1 },
  LLMAUDIT_E_ERASE_UNSUPPORTED: { message: 'the selected entries cannot be erased: they are in entry format v1, which commits to the bodies directly', exit: 1 },
  LLMAUDIT_E_ERASE_UNAUTHORIZED: { message: 'POST /v1/erase without the erase bearer token', exit: 1 },
  LLMAUDIT_E_ERASE_KEY: { message: "the signer key is not the log's key", exit: 1 },
  LLMAUDIT_E_PRUNE_INVALID: { message: 'the segments to prune are not a well-formed part of the chain', exit: 1 },
  LLMAUDIT_E_PRUNE_TILES: { message: "the hash tiles do not match the entries to prune", exit: 1 },
} as const satisfies ErrorRegistry;

export const erasureError = errorFactory(ERASURE_ERRORS);
