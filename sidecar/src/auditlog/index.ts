// The audit log module: the one implementation of the format that the proxy, the operator
// and the CLI import (docs/architecture.md). Named exports only.
export type { AppendResult, ConsistencyProofBundle, Durability, Entry, EntryPayload, InclusionProofBundle, LogStats } from './types.ts';

// Writing
export { openLog } from './log-writer.ts';
export type { AuditLog, OpenLogOptions } from './log-writer.ts';
export { nodeLogFs } from './log-fs.ts';
export type { LogFileHandle, LogFs } from './log-fs.ts';
export { acquireLock } from './lock.ts';
export type { HeldLock, LockInfo } from './lock.ts';

// Reading, proving, verifying
export { openLogReader, findEntry } from './log-reader.ts';
export type { LogReader } from './log-reader.ts';
export { readLatestCheckpoint } from './checkpoint-store.ts';
export type { StoredCheckpoint } from './checkpoint-store.ts';
export { verifyLog, VERIFY_EXIT_CODES } from './verifier.ts';
export type { VerifyExit, VerifyFailure, VerifyOptions, VerifyReport } from './verifier.ts';
export { buildConsistencyBundle, buildInclusionBundle, formatTlogProof, parseProof, parseTlogProof, verifyConsistencyBundle, verifyProofBundle } from './proof-bundle.ts';
export type { VerifiedProof } from './proof-bundle.ts';
export { buildEntry, checkLine, CHAIN_FIELDS } from './entry.ts';
export { segmentName, checkpointName, listSegments, listCheckpoints } from './layout.ts';

// Format primitives (crypto modules)
export { canonicalJson } from './jcs.ts';
export { sha256, entryHashBytes, genesisPrevHash } from './hash.ts';
export { EMPTY_ROOT, leafHash, nodeHash, MerkleAccumulator, inclusionProof, consistencyProof, verifyInclusion, verifyConsistency, rootOfLeaves, memoryHashReader } from './merkle.ts';
export type { HashReader } from './merkle.ts';
export { TileStore } from './tiles.ts';
export { generateSignerKey, parseSignerKey, parseVerifierKey, keyId, signNote, openNote } from './signed-note.ts';
export type { NoteSigner, NoteVerifier } from './signed-note.ts';
export { formatCheckpointBody, parseCheckpointBody, signCheckpoint, verifyCheckpoint, appendCosignatures } from './checkpoint.ts';
export { generateCosignerKey, parseCosignerKey, parseCosignatureVerifierKey, verifyCosignatures } from './cosignature.ts';
export type { Cosigner, VerifiedCosignature } from './cosignature.ts';

// Errors
export { LOG_ERRORS, logError } from './log-errors.ts';
export { CRYPTO_ERRORS, cryptoError } from './crypto-errors.ts';
