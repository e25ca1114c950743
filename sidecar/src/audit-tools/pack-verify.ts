// Verifies an audit pack (docs/auditing.md "Verifying a pack"): every file against the manifest,
// then each chain: a full chain with the log verifier (verifyLog: hashes, links, signatures,
// checkpoints, media), a partial chain entry by entry with its inclusion proof against the signed
// checkpoint in the pack, plus witness cosignatures when witness keys are given. The exit status
// is the most severe of all (EXIT_SEVERITY: 3 > 2 > 6 > 5 > 4 > 1 > 0).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyLog, VERIFY_EXIT_CODES, type VerifyExit, type VerifyFailure } from '../auditlog/verifier.ts';
import { worstExit } from '../auditlog/tree-verify.ts';
import { verifyProofBundle } from '../auditlog/proof-bundle.ts';
import { verifyCosignatures } from '../auditlog/cosignature.ts';
import { checkMediaFile, mediaRefsOf } from '../auditlog/media-verify.ts';
import { isLlmauditError } from '../errors.ts';
import type { NoteVerifier } from '../auditlog/signed-note.ts';
import type { Entry } from '../auditlog/types.ts';
import { parseManifest, type PackChain, type PackManifest } from './pack-manifest.ts';
import { unpack, type UnpackedPack } from './pack-reader.ts';

export interface PackChainResult {
  path: string;
  kind: PackChain['kind'] | 'files';
  origin: string | null;
  entries: number;
  exit: VerifyExit;
  failure: VerifyFailure | null;
  witnessed: Array<{ name: string; timestamp: number }>;
  warnings: string[];
}

export interface PackReport {
  ok: boolean;
  exit: VerifyExit;
  pack: string;
  manifest: Pick<PackManifest, 'format' | 'tool' | 'createdAt' | 'partial' | 'selection'> | null;
  files: number;
  chains: PackChainResult[];
}

export interface PackVerifyOptions {
  keys: NoteVerifier[];
  witnessKeys: NoteVerifier[];
  strictMedia?: boolean;
  onProgress?: (done: number, total: number, label: string) => void;
}

function failureOf(err: unknown): VerifyFailure {
  if (isLlmauditError(err)) {
    const exit = ([1, 2, 3, 4, 5, 6] as const).find((e) => e === err.exitCode) ?? 1;
    return { exit, code: err.code, message: err.message };
  }
  throw err;
}

function result(c: Pick<PackChainResult, 'path' | 'kind' | 'origin'>, entries: number, failure: VerifyFailure | null, warnings: string[] = [], witnessed: PackChainResult['witnessed'] = []): PackChainResult {
  return { ...c, entries, exit: failure?.exit ?? 0, failure, witnessed, warnings };
}

interface ProofLine {
  index: number;
  entryHash: string;
  treeSize: number;
  inclusionProof: string[];
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

async function checkWitnesses(note: string, witnessKeys: NoteVerifier[]): Promise<PackChainResult['witnessed']> {
  if (witnessKeys.length === 0) return [];
  return verifyCosignatures(note, witnessKeys).map((c) => ({ name: c.name, timestamp: c.timestamp }));
}

async function verifyPartial(dir: string, c: PackChain, o: PackVerifyOptions): Promise<PackChainResult> {
  const head = { path: c.path, kind: c.kind, origin: c.origin };
  let verified = 0;
  const warnings: string[] = [];
  try {
    const cpName = c.checkpoint === null ? null : String(c.checkpoint.size).padStart(12, '0');
    const note = cpName === null ? null : await readFile(path.join(dir, 'checkpoints', cpName), 'utf8');
    const entries = await readFile(path.join(dir, 'entries.jsonl'), 'utf8').then(lines, () => [] as string[]);
    const proofs = await readFile(path.join(dir, 'proofs.jsonl'), 'utf8').then(lines, () => [] as string[]);
    if (entries.length !== proofs.length || entries.length !== c.entries) {
      return result(head, 0, { exit: 2, code: VERIFY_EXIT_CODES[2], message: `${c.path}: ${entries.length} entries, ${proofs.length} proofs, the manifest lists ${c.entries}` });
    }
    if (note === null) {
      if (entries.length === 0) return result(head, 0, null);
      return result(head, 0, { exit: 2, code: VERIFY_EXIT_CODES[2], message: `${c.path}: no checkpoint to prove the entries against` });
    }
    const witnessed = await checkWitnesses(note, o.witnessKeys);
    for (const [i, text] of entries.entries()) {
      let entry: Entry;
      let proof: ProofLine;
      try {
        entry = JSON.parse(text) as Entry;
        proof = JSON.parse(proofs[i] as string) as ProofLine;
      } catch {
        return result(head, verified, { exit: 4, code: VERIFY_EXIT_CODES[4], message: `${c.path}: line ${i + 1} of entries.jsonl or proofs.jsonl is not JSON` });
      }
      try {
        verifyProofBundle({ index: proof.index, entry, entryHash: proof.entryHash, treeSize: proof.treeSize, rootHash: parseRoot(note), inclusionProof: proof.inclusionProof, checkpoint: note }, o.keys);
      } catch (err) {
        const f = failureOf(err);
        return result(head, verified, { ...f, message: `${c.path}: entries.jsonl line ${i + 1} seq ${String(entry.seq)}: ${f.message}`, seq: entry.seq });
      }
      const refs = mediaRefsOf(entry as unknown as Record<string, unknown>, entry.seq);
      if (typeof refs === 'string') return result(head, verified, { exit: 4, code: VERIFY_EXIT_CODES[4], message: `${c.path}: seq ${entry.seq}: ${refs}` });
      for (const r of refs) {
        const m = await checkMediaFile(dir, r);
        if (m.kind === 'unreadable') return result(head, verified, { exit: 1, code: VERIFY_EXIT_CODES[1], message: `${c.path}/${r.path}: ${m.code}` });
        if (m.kind === 'altered') return result(head, verified, { exit: 3, code: 'LLMAUDIT_E_MEDIA_TAMPERED', message: `${c.path}/${r.path}: SHA-256 differs from entry seq ${entry.seq}`, seq: entry.seq });
        if (m.kind === 'missing') {
          if (o.strictMedia === true) return result(head, verified, { exit: 2, code: 'LLMAUDIT_E_MEDIA_MISSING', message: `${c.path}/${r.path} (seq ${entry.seq})` });
          warnings.push(`${c.path}/${r.path}: media file missing (seq ${entry.seq})`);
        }
      }
      verified++;
      o.onProgress?.(verified, c.entries, `${c.path}: ${verified} proofs`);
    }
    return result(head, verified, null, warnings, witnessed);
  } catch (err) {
    return result(head, verified, failureOf(err), warnings);
  }
}

/** The base64 root of a checkpoint note's body (third line); verifyProofBundle checks it against the signature. */
function parseRoot(note: string): string {
  return note.split('\n')[2] ?? '';
}

async function verifyFull(dir: string, c: PackChain, o: PackVerifyOptions): Promise<PackChainResult> {
  const head = { path: c.path, kind: c.kind, origin: c.origin };
  const report = await verifyLog(dir, {
    keys: o.keys,
    strictMedia: o.strictMedia === true,
    ...(o.onProgress === undefined ? {} : { onProgress: (p) => o.onProgress?.(p.bytes, p.totalBytes, `${c.path}: ${p.entries} entries`) }),
  });
  let witnessed: PackChainResult['witnessed'] = [];
  if (report.failure === null && o.witnessKeys.length > 0) {
    try {
      witnessed = await checkWitnesses(await readFile(path.join(dir, 'checkpoint'), 'utf8'), o.witnessKeys);
    } catch (err) {
      return result({ ...head, origin: report.origin }, report.entries, failureOf(err), report.warnings);
    }
  }
  // A pruned chain holds the entries from its cut (report.from) on.
  if (report.failure === null && report.entries - report.from !== c.entries) {
    return result({ ...head, origin: report.origin }, report.entries, { exit: 2, code: VERIFY_EXIT_CODES[2], message: `${c.path}: ${report.entries - report.from} entries, the manifest lists ${c.entries}` }, report.warnings);
  }
  return result({ ...head, origin: report.origin }, report.entries, report.failure, report.warnings, witnessed);
}

/** Packs of more entries than this report progress (verify draws a bar on a terminal). */
export const PROGRESS_FROM_ENTRIES = 10_000;

export async function verifyPack(file: string, o: PackVerifyOptions): Promise<PackReport> {
  const unpacked = await unpack(file);
  try {
    return await verifyUnpacked(unpacked, file, o);
  } finally {
    await unpacked.close();
  }
}

/** Verifies a pack already unpacked (the report reads its entries from the same files). */
export async function verifyUnpacked(unpacked: UnpackedPack, file: string, options: PackVerifyOptions): Promise<PackReport> {
  let o = options;
  {
    const chains: PackChainResult[] = [];
    let manifest: PackManifest;
    try {
      manifest = parseManifest(await readFile(path.join(unpacked.dir, 'manifest.json'), 'utf8').catch(() => '{"missing": true}'));
    } catch (err) {
      const f = failureOf(err);
      return { ok: false, exit: f.exit, pack: file, manifest: null, files: unpacked.files.size, chains: [result({ path: 'manifest.json', kind: 'files', origin: null }, 0, f)] };
    }
    // Files against the manifest: the first mismatch, a missing file, a file not listed.
    const listed = new Map(manifest.files.map((f) => [f.path, f]));
    let fileFailure: VerifyFailure | null = null;
    for (const f of manifest.files) {
      const got = unpacked.files.get(f.path);
      if (got === undefined) fileFailure ??= { exit: 2, code: 'LLMAUDIT_E_PACK_INCOMPLETE', message: `${f.path} is listed in manifest.json but not in the pack` };
      else if (got.sha256 !== f.sha256 || got.bytes !== f.bytes) fileFailure = pickWorse(fileFailure, { exit: 3, code: 'LLMAUDIT_E_PACK_TAMPERED', message: `${f.path}: SHA-256 ${got.sha256}, the manifest lists ${f.sha256}` });
    }
    for (const name of unpacked.files.keys()) {
      if (name !== 'manifest.json' && !listed.has(name)) fileFailure = pickWorse(fileFailure, { exit: 3, code: 'LLMAUDIT_E_PACK_TAMPERED', message: `${name} is in the pack but not in manifest.json` });
    }
    chains.push(result({ path: 'manifest.json', kind: 'files', origin: null }, 0, fileFailure));
    if (manifest.chains.reduce((n, c) => n + c.entries, 0) <= PROGRESS_FROM_ENTRIES) {
      const { onProgress: _omit, ...rest } = o;
      o = rest;
    }
    for (const c of manifest.chains) {
      const dir = path.join(unpacked.dir, 'chains', ...c.path.split('/'));
      chains.push(c.kind === 'full' ? await verifyFull(dir, c, o) : await verifyPartial(dir, c, o));
    }
    const exit = worstExit(chains.map((c) => c.exit));
    const { format, tool, createdAt, partial, selection } = manifest;
    return { ok: exit === 0, exit, pack: file, manifest: { format, tool, createdAt, partial, selection }, files: unpacked.files.size, chains };
  }
}

function pickWorse(a: VerifyFailure | null, b: VerifyFailure): VerifyFailure {
  return a === null || worstExit([a.exit, b.exit]) === b.exit ? (a !== null && a.exit === b.exit ? a : b) : a;
}
