// Builds an audit pack from a chain directory or a log volume (docs/auditing.md "Audit packs").
// Without a selection every chain is packed whole (segments, checkpoints with their cosignature
// lines as on disk, media, and the hash tiles of a pruned chain); with one, each chain contributes only its selected entries plus, for
// each, its Merkle inclusion proof against the newest signed checkpoint, so the pack proves the
// subset without carrying any other exchange.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkLine, isLineProblem } from '../auditlog/entry.ts';
import { listCheckpoints, listSegments, CHECKPOINT_DIR, LATEST_CHECKPOINT, TILE_DIR } from '../auditlog/layout.ts';
import { readLatestCheckpoint } from '../auditlog/checkpoint-store.ts';
import { parseCheckpointBody } from '../auditlog/checkpoint.ts';
import { logError } from '../auditlog/log-errors.ts';
import { inclusionProof, leafHash, memoryHashReader, rootFromReader } from '../auditlog/merkle.ts';
import { mediaRefsOf } from '../auditlog/media-verify.ts';
import { splitNote } from './notes.ts';
import { chainsIn, readChainEntries, type ChainRef, type EntryLine } from './chains.ts';
import { TileStore } from '../auditlog/tiles.ts';
import { isLlmauditError } from '../errors.ts';
import { describeSelection, matchesEntry, matchesOrigin, selectsWithinChain, seqRanges, type Selection } from './selection.ts';
import { PackWriter } from './pack-writer.ts';
import { PACK_FORMAT, type PackChain, type PackManifest } from './pack-manifest.ts';
import { packReadme } from './pack-readme.ts';
import { auditToolError } from './errors.ts';
import { TOOL_VERSION } from './version.ts';
import type { Entry } from '../auditlog/types.ts';

export interface PackKey {
  /** The key text (name+hexid+base64). */
  text: string;
  name: string;
  kind: 'log' | 'witness';
}

export interface ExportOptions {
  source: string;
  out: string;
  selection: Selection;
  keys: PackKey[];
  now?: Date;
  /** Called per chain packed. */
  onChain?: (c: PackChain) => void;
}

export interface ExportResult {
  manifest: PackManifest;
  bytes: number;
}

function chainDirInPack(c: ChainRef): string {
  return `chains/${c.path}`;
}

/** The origin of a chain, from its first entry (null for an empty chain). */
async function firstEntry(dir: string): Promise<Entry | null> {
  for await (const l of readChainEntries(dir)) return l.entry;
  return null;
}

/** The full hash tiles of a chain (`<level>/<index path>`), sorted; not temporary or partial ones. */
async function tileFiles(dir: string): Promise<string[]> {
  const names = await readdir(path.join(dir, TILE_DIR), { recursive: true, withFileTypes: true }).catch(() => []);
  return names
    .filter((d) => d.isFile() && !d.name.includes('.tmp-'))
    .map((d) => path.relative(path.join(dir, TILE_DIR), path.join(d.parentPath, d.name)).split(path.sep).join('/'))
    .filter((rel) => !rel.includes('.p/'))
    .sort();
}

async function mediaFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(path.join(dir, 'media'))).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
}

function cosignatureCount(note: string): number {
  return Math.max(0, splitNote(note).signatures.length - 1);
}

/** A segment as it is now, cut after its last complete line (a live writer may be mid-line). */
async function segmentSnapshot(file: string): Promise<Buffer> {
  const buf = await readFile(file);
  const end = buf.lastIndexOf(0x0a);
  return end === buf.length - 1 ? buf : buf.subarray(0, end + 1);
}

async function packFullChain(w: PackWriter, c: ChainRef): Promise<PackChain> {
  const base = chainDirInPack(c);
  // Checkpoints first, then segments: every checkpoint packed covers entries that are packed too.
  let latest: { size: number; rootHash: string; cosignatures: number } | null = null;
  for (const cp of await listCheckpoints(c.dir)) {
    const note = await readFile(cp.path);
    await w.addBuffer(`${base}/${CHECKPOINT_DIR}/${cp.name}`, note);
    const body = parseCheckpointBody(splitNote(note.toString('utf8')).text);
    latest = { size: body.size, rootHash: body.rootHash.toString('base64'), cosignatures: cosignatureCount(note.toString('utf8')) };
  }
  const latestCopy = await readFile(path.join(c.dir, LATEST_CHECKPOINT)).catch(() => null);
  if (latestCopy !== null) await w.addBuffer(`${base}/${LATEST_CHECKPOINT}`, latestCopy);
  const seqs: number[] = [];
  let firstTs: string | null = null;
  let lastTs: string | null = null;
  let origin: string | null = null;
  for (const seg of await listSegments(c.dir)) {
    const data = await segmentSnapshot(seg.path);
    await w.addBuffer(`${base}/${seg.name}`, data);
    for (const line of data.toString('utf8').split('\n')) {
      if (line === '') continue;
      const e = JSON.parse(line) as Entry;
      seqs.push(e.seq);
      firstTs ??= e.ts;
      lastTs = e.ts;
      origin ??= e.origin;
    }
  }
  for (const name of await mediaFiles(c.dir)) {
    const abs = path.join(c.dir, 'media', name);
    await w.addFile(`${base}/media/${name}`, abs, (await stat(abs)).size);
  }
  // A pruned chain (retention mode delete-segments) verifies from its cut with the tree its hash
  // tiles hold there: they are packed too (32 bytes per entry).
  if ((seqs[0] ?? 0) > 0) {
    for (const rel of await tileFiles(c.dir)) {
      const abs = path.join(c.dir, TILE_DIR, ...rel.split('/'));
      await w.addFile(`${base}/${TILE_DIR}/${rel}`, abs, (await stat(abs)).size);
    }
  }
  return { path: c.path, origin, kind: 'full', entries: seqs.length, seqRanges: seqRanges(seqs), firstTs, lastTs, checkpoint: latest };
}

interface ProofLine {
  index: number;
  entryHash: string;
  treeSize: number;
  inclusionProof: string[];
}

interface TreeView {
  root(size: number): Promise<Buffer>;
  proof(index: number, size: number): Promise<Buffer[]>;
  leaf(index: number): Promise<Buffer>;
}

/**
 * The chain's tree up to `size` from its hash tiles (derived data the writer keeps), hashing only
 * the entries after the last full tile, while collecting the selected entries. Null when the
 * tiles do not give the checkpoint's root (deleted, stale or damaged): then the caller hashes every
 * entry instead.
 */
async function scanWithTiles(c: ChainRef, size: number, rootHash: Buffer, onEntry: (l: EntryLine) => void): Promise<TreeView | null> {
  const tiles = await TileStore.open(c.dir, { readOnly: true });
  try {
    for await (const l of readChainEntries(c.dir)) {
      const seq = l.entry.seq;
      if (seq >= tiles.size && seq < size) {
        const checked = checkLine(l.text);
        if (isLineProblem(checked)) throw logError('LLMAUDIT_E_LOG_PARSE', `${c.path}/${l.segment}: ${checked.message}`);
        if (seq !== tiles.size) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${c.path}/${l.segment}: seq ${seq}, expected ${tiles.size}; run llmaudit verify`);
        tiles.append(leafHash(checked.computedHash));
      }
      onEntry(l);
    }
    if (tiles.size < size) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${c.path}: ${tiles.size} entries but the newest checkpoint covers ${size}; run llmaudit verify`);
    if (!(await tiles.root(size)).equals(rootHash)) return null;
    return { root: (n) => tiles.root(n), proof: (i, n) => tiles.inclusionProof(i, n), leaf: (i) => tiles.hashAt(0, i) };
  } catch (err) {
    if (isLlmauditError(err) && (err.code === 'LLMAUDIT_E_TILE_INVALID' || err.code === 'LLMAUDIT_E_TILE_IO')) return null;
    throw err;
  }
}

/** The tree from every entry's hash, in memory (32 bytes a leaf), while collecting the selected entries. */
async function scanAll(c: ChainRef, size: number, onEntry: (l: EntryLine) => void): Promise<TreeView> {
  const leaves: Buffer[] = [];
  for await (const l of readChainEntries(c.dir)) {
    onEntry(l);
    if (l.entry.seq >= size) continue;
    const checked = checkLine(l.text);
    if (isLineProblem(checked)) throw logError('LLMAUDIT_E_LOG_PARSE', `${c.path}/${l.segment}: ${checked.message}`);
    if (l.entry.seq !== leaves.length) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${c.path}/${l.segment}: seq ${l.entry.seq}, expected ${leaves.length}; run llmaudit verify`);
    leaves.push(leafHash(checked.computedHash));
  }
  if (leaves.length < size) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${c.path}: ${leaves.length} entries but the newest checkpoint covers ${size}; run llmaudit verify`);
  const hashAt = memoryHashReader(leaves);
  return { root: (n) => rootFromReader(n, hashAt), proof: (i, n) => inclusionProof(i, n, hashAt), leaf: (i) => hashAt(0, i) };
}

async function packPartialChain(w: PackWriter, c: ChainRef, sel: Selection): Promise<PackChain | null> {
  const stored = await readLatestCheckpoint(c.dir);
  const base = chainDirInPack(c);
  const cp = stored === null ? null : parseCheckpointBody(splitNote(stored.note).text);
  const size = cp?.size ?? 0;
  const picked: Array<{ entry: Entry; text: string }> = [];
  let notCovered = 0;
  const onEntry = (l: EntryLine): void => {
    if (!matchesEntry(sel, l.entry)) return;
    if (l.entry.seq >= size) notCovered++;
    else picked.push({ entry: l.entry, text: l.text });
  };
  let tree: TreeView | null = null;
  if (cp !== null) tree = await scanWithTiles(c, size, cp.rootHash, onEntry);
  if (tree === null) {
    // No checkpoint, or tiles that do not give its root: every entry is read (and hashed) again.
    picked.length = 0;
    notCovered = 0;
    tree = await scanAll(c, size, onEntry);
  }
  if (picked.length === 0 && notCovered === 0) return null;
  if (stored === null || cp === null || picked.length === 0) {
    return { path: c.path, origin: picked[0]?.entry.origin ?? null, kind: 'partial', entries: 0, seqRanges: [], firstTs: null, lastTs: null, checkpoint: null, notCovered };
  }
  // A proof against a root the entries do not give would fail for the auditor: say so here.
  if (!(await tree.root(size)).equals(cp.rootHash)) {
    throw logError('LLMAUDIT_E_ENTRY_TAMPERED', `${c.path}: the entries do not give the root of the newest checkpoint (size ${size}); run llmaudit verify`);
  }
  for (const p of picked) {
    const checked = checkLine(p.text);
    if (isLineProblem(checked) || !leafHash(checked.computedHash).equals(await tree.leaf(p.entry.seq))) {
      throw logError('LLMAUDIT_E_ENTRY_TAMPERED', `${c.path}: entry seq ${p.entry.seq} does not match the tree its checkpoint signs; run llmaudit verify`);
    }
  }
  const entries: string[] = [];
  const proofs: string[] = [];
  const media = new Map<string, string>();
  for (const p of picked) {
    entries.push(p.text);
    const proof: ProofLine = { index: p.entry.seq, entryHash: p.entry.hash, treeSize: size, inclusionProof: (await tree.proof(p.entry.seq, size)).map((h) => h.toString('base64')) };
    proofs.push(JSON.stringify(proof));
    const refs = mediaRefsOf(p.entry as unknown as Record<string, unknown>, p.entry.seq);
    if (typeof refs !== 'string') for (const r of refs) media.set(r.path, path.join(c.dir, r.path));
  }
  await w.addBuffer(`${base}/${CHECKPOINT_DIR}/${path.basename(stored.path)}`, Buffer.from(stored.note, 'utf8'));
  await w.addBuffer(`${base}/entries.jsonl`, Buffer.from(`${entries.join('\n')}\n`, 'utf8'));
  await w.addBuffer(`${base}/proofs.jsonl`, Buffer.from(`${proofs.join('\n')}\n`, 'utf8'));
  for (const [rel, abs] of [...media].sort()) {
    const st = await stat(abs).catch(() => null);
    if (st !== null) await w.addFile(`${base}/${rel}`, abs, st.size);
  }
  return {
    path: c.path,
    origin: picked[0]?.entry.origin ?? null,
    kind: 'partial',
    entries: picked.length,
    seqRanges: seqRanges(picked.map((p) => p.entry.seq)),
    firstTs: picked[0]?.entry.ts ?? null,
    lastTs: picked[picked.length - 1]?.entry.ts ?? null,
    checkpoint: { size, rootHash: cp.rootHash.toString('base64'), cosignatures: cosignatureCount(stored.note) },
    notCovered,
  };
}

function keyFileName(k: PackKey, i: number): string {
  const safe = k.name.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `keys/${i + 1}-${safe}.${k.kind === 'witness' ? 'witness.vkey' : 'vkey'}`;
}

export async function exportPack(o: ExportOptions): Promise<ExportResult> {
  const now = o.now ?? new Date();
  const partial = selectsWithinChain(o.selection);
  const chains: PackChain[] = [];
  const w = new PackWriter(o.out, now);
  try {
    for (const c of await chainsIn(o.source)) {
      if (o.selection.origin !== undefined && !matchesOrigin(o.selection, (await firstEntry(c.dir))?.origin ?? null)) continue;
      const packed = partial ? await packPartialChain(w, c, o.selection) : await packFullChain(w, c);
      if (packed === null) continue;
      chains.push(packed);
      o.onChain?.(packed);
    }
    if (chains.every((c) => c.entries === 0)) {
      const uncovered = chains.reduce((n, c) => n + (c.notCovered ?? 0), 0);
      throw auditToolError('LLMAUDIT_E_EXPORT_EMPTY', uncovered > 0 ? `${uncovered} selected entries are newer than the newest checkpoint; export again once the log has signed one (every seal, every checkpoint interval, on shutdown)` : describeText(o.selection));
    }
    const keys = o.keys.map((k, i) => ({ path: keyFileName(k, i), kind: k.kind, name: k.name }));
    for (const [i, k] of o.keys.entries()) await w.addBuffer(keys[i]?.path as string, Buffer.from(`${k.text}\n`, 'utf8'));
    const base: Omit<PackManifest, 'files'> = { format: PACK_FORMAT, tool: { name: 'llmaudit', version: TOOL_VERSION }, createdAt: now.toISOString(), partial, selection: describeSelection(o.selection), chains, keys };
    await w.addBuffer('README.md', Buffer.from(packReadme(base), 'utf8'));
    let manifest!: PackManifest;
    await w.finish((files) => {
      manifest = { ...base, files: [...files] };
      return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
    });
    return { manifest, bytes: (await stat(o.out)).size };
  } catch (err) {
    w.abort(err as Error);
    throw err;
  }
}

function describeText(sel: Selection): string {
  const d = describeSelection(sel);
  return Object.keys(d).length === 0 ? 'the source holds no entries' : `selection ${JSON.stringify(d)}`;
}
