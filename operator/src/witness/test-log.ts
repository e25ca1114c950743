// Test support: a log as a witness sees it — an origin, a key, leaves — that signs checkpoints and
// builds add-checkpoint bodies with real RFC 9162 consistency proofs.
import { createHash } from 'node:crypto';
import { consistencyProof, generateSignerKey, leafHash, memoryHashReader, parseSignerKey, parseVerifierKey, rootOfLeaves, signCheckpoint, type NoteVerifier } from '@llmaudit/sidecar/auditlog';
import { formatAddCheckpoint } from '@llmaudit/sidecar/witness';

export interface TestLog {
  origin: string;
  verifierKey: string;
  signerKey: string;
  verifier: NoteVerifier;
  leaves: Buffer[];
  /** Appends n leaves (their content depends on `salt`: two logs with other salts fork). */
  grow(n: number, salt?: string): void;
  checkpoint(size?: number): string;
  root(size?: number): Buffer;
  /** The add-checkpoint body from `oldSize` to `size` (default: all leaves). */
  body(oldSize: number, size?: number, opts?: { proof?: Buffer[] }): Promise<string>;
}

export function testLog(origin: string, keys: { signerKey: string; verifierKey: string } = generateSignerKey('llmaudit.dev/ns/policy')): TestLog {
  const signer = parseSignerKey(keys.signerKey);
  const log: TestLog = {
    origin,
    ...keys,
    verifier: parseVerifierKey(keys.verifierKey),
    leaves: [],
    grow(n, salt = '') {
      for (let i = 0; i < n; i++) log.leaves.push(leafHash(createHash('sha256').update(`${salt}${log.leaves.length}`).digest()));
    },
    root: (size = log.leaves.length) => rootOfLeaves(log.leaves.slice(0, size)),
    checkpoint: (size = log.leaves.length) => signCheckpoint({ origin, size, rootHash: log.root(size) }, signer),
    async body(oldSize, size = log.leaves.length, opts = {}) {
      const proof = opts.proof ?? (oldSize === 0 || oldSize === size ? [] : await consistencyProof(oldSize, size, memoryHashReader(log.leaves.slice(0, size))));
      return formatAddCheckpoint({ oldSize, proof, note: log.checkpoint(size) });
    },
  };
  return log;
}
