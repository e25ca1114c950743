// manifest.json of an audit pack (docs/auditing.md "Audit packs"): what the pack holds, where it
// came from, and every other file with its SHA-256. The manifest is not signed: it guards the
// transport; the entries are authenticated by the log's signatures, which `verify` checks.
import { auditToolError } from './errors.ts';

export const PACK_FORMAT = 'llmaudit-pack/1';

export interface PackChain {
  /** Directory in the pack: `chains/<path>/`. */
  path: string;
  origin: string | null;
  /** `full`: the chain's segments and checkpoints; `partial`: selected entries with inclusion proofs. */
  kind: 'full' | 'partial';
  entries: number;
  /** Inclusive seq ranges of the entries in the pack. */
  seqRanges: Array<[number, number]>;
  firstTs: string | null;
  lastTs: string | null;
  /** Newest checkpoint in the pack (partial: the one every proof is made against). */
  checkpoint: { size: number; rootHash: string; cosignatures: number } | null;
  /** Partial packs: selected entries left out because no checkpoint covered them yet. */
  notCovered?: number;
}

export interface PackManifest {
  format: typeof PACK_FORMAT;
  tool: { name: 'llmaudit'; version: string };
  createdAt: string;
  partial: boolean;
  selection: Record<string, unknown>;
  chains: PackChain[];
  keys: Array<{ path: string; kind: 'log' | 'witness'; name: string }>;
  files: Array<{ path: string; sha256: string; bytes: number }>;
}

export function parseManifest(text: string): PackManifest {
  let m: Partial<PackManifest>;
  try {
    m = JSON.parse(text) as Partial<PackManifest>;
  } catch (err) {
    throw auditToolError('LLMAUDIT_E_PACK_INVALID', `manifest.json is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (m === null || typeof m !== 'object' || m.format !== PACK_FORMAT || !Array.isArray(m.files) || !Array.isArray(m.chains) || !Array.isArray(m.keys)) {
    throw auditToolError('LLMAUDIT_E_PACK_INVALID', `manifest.json is not a ${PACK_FORMAT} manifest`);
  }
  for (const f of m.files) {
    if (typeof f?.path !== 'string' || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256) || typeof f.bytes !== 'number') {
      throw auditToolError('LLMAUDIT_E_PACK_INVALID', 'manifest.json: a file entry lacks path, sha256 (64 hex) or bytes');
    }
  }
  for (const c of m.chains) {
    if (typeof c?.path !== 'string' || (c.kind !== 'full' && c.kind !== 'partial')) throw auditToolError('LLMAUDIT_E_PACK_INVALID', 'manifest.json: a chain lacks path or kind');
    if (c.path.split('/').some((p) => p === '' || p === '.' || p === '..')) throw auditToolError('LLMAUDIT_E_PACK_INVALID', `manifest.json: unsafe chain path ${JSON.stringify(c.path)}`);
    if (c.checkpoint !== null && (typeof c.checkpoint !== 'object' || !Number.isSafeInteger(c.checkpoint.size) || c.checkpoint.size < 0)) throw auditToolError('LLMAUDIT_E_PACK_INVALID', `manifest.json: chain ${c.path}: checkpoint size is not a non-negative integer`);
    if (!Number.isSafeInteger(c.entries) || c.entries < 0) throw auditToolError('LLMAUDIT_E_PACK_INVALID', `manifest.json: chain ${c.path}: entries is not a non-negative integer`);
  }
  return m as PackManifest;
}
