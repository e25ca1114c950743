// The streaming verifier (docs/audit-log-format.md "Verification"). It reads every segment once,
// line by line, holding only the current line, the previous hash and the O(log n) right edge of the
// Merkle tree (plus the list of checkpoint sizes), and stops at the first failure, which it
// reports with its segment, line, seq and what is wrong. The exit statuses are the format's:
// 0 intact, 1 file error, 2 chain broken, 3 entry tampered, 4 parse error, 5 signature invalid or
// wrong key, 6 inconsistent with the given earlier checkpoint. Once the chain is intact, the media
// files its entries reference are hashed (media-verify.ts): altered is 3, missing a warning (2 with
// `strictMedia`). A log starting after seq 0 (pruned, or --from-seq) is verified from there with the
// tree the hash tiles hold at its start (verify-head.ts).
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkLine, isLineProblem, type CheckedLine, type LineProblem } from './entry.ts';
import { checkWriterLine, type CheckedBytes, type EntryFields } from './line-bytes.ts';
import { genesisPrevHash } from './hash.ts';
import { LATEST_CHECKPOINT, listCheckpoints, listSegments, type CheckpointFile, type SegmentFile } from './layout.ts';
import { segmentStartsOf, seqHint } from './log-reader.ts';
import { LineTooLongError, readLineBatches } from './line-reader.ts';
import { MerkleAccumulator, leafHash } from './merkle.ts';
import { verifyCheckpoint } from './checkpoint.ts';
import { checkMediaFile, mediaRefsOf, type MediaRefAt } from './media-verify.ts';
import type { NoteVerifier } from './signed-note.ts';
import { consistentBelow, linksToHead, openHead, pruneFields, type Head, type PruneFields } from './verify-head.ts';

export type VerifyExit = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export const VERIFY_EXIT_CODES: Readonly<Record<Exclude<VerifyExit, 0>, string>> = {
  1: 'LLMAUDIT_E_VERIFY_FILE',
  2: 'LLMAUDIT_E_CHAIN_BROKEN',
  3: 'LLMAUDIT_E_ENTRY_TAMPERED',
  4: 'LLMAUDIT_E_LOG_PARSE',
  5: 'LLMAUDIT_E_VERIFY_SIGNATURE',
  6: 'LLMAUDIT_E_CHECKPOINT_INCONSISTENT',
};

export interface VerifyFailure {
  exit: Exclude<VerifyExit, 0>;
  code: string;
  message: string;
  segment?: string;
  line?: number;
  seq?: number;
}

export interface VerifyReport {
  ok: boolean;
  exit: VerifyExit;
  dir: string;
  origin: string | null;
  entries: number;
  segments: number;
  bytes: number;
  checkpointsChecked: number;
  /** The newest file of checkpoints/; `writtenAt` is its modification time (a checkpoint holds no time). */
  latestCheckpoint: { size: number; rootHash: string; writtenAt: string } | null;
  since: { size: number; rootHash: string } | null;
  /** v2: content parts erased, and the seqs of the erasure records in the log. */
  erased: { parts: number; entries: number; records: number[] };
  /** Distinct media files referenced by entries: checked (present, digest matches), their bytes, missing. */
  media: { files: number; bytes: number; missing: number };
  /** The first seq verified: 0, the cut of a prune, or `fromSeq`. */
  from: number;
  /** Prune records in the verified part (their seqs), the one whose cut the log starts at (or is being pruned to), and the first seq present. */
  pruned: { records: number[]; recordSeq: number | null; firstSeq: number } | null;
  failure: VerifyFailure | null;
  warnings: string[];
}

/** At most this many missing media files are named in the warnings; the rest are counted. */
const MISSING_MEDIA_NAMED = 20;

export interface VerifyOptions {
  /** Verifier keys (signed-note form, parsed); a signature by any of them counts. */
  keys: NoteVerifier[];
  /** A signed checkpoint the log must be consistent with (one a witness or auditor kept). */
  since?: string;
  /**
   * 'uncovered' (default) checks the signatures of entries after the newest checkpoint: the others
   * are already authenticated by the checkpoint's signature over the Merkle root, which the
   * verifier recomputes from their hashes (an Ed25519 verification costs more than the rest of
   * the checks of a 4 KiB entry together). 'all' checks every entry signature as well.
   */
  entrySignatures?: 'all' | 'uncovered';
  /** A referenced media file that is missing fails the log (exit 2, LLMAUDIT_E_MEDIA_MISSING) instead of a warning. */
  strictMedia?: boolean;
  /**
   * Start at this seq (a huge log): the entries before it are not read; the tree there comes from
   * the hash tiles and is trusted only as far as the signed checkpoints after it (and the
   * consistency proofs to those before it) prove it (docs/audit-log-format.md "Pruned logs").
   */
  fromSeq?: number;
  /** `phase: 'entries'` counts segment bytes, then `'media'` counts media bytes (as the entries record them). */
  onProgress?: (p: { phase: 'entries' | 'media'; bytes: number; totalBytes: number; entries: number }) => void;
}

class Stop extends Error {
  constructor(readonly failure: VerifyFailure) {
    super(failure.message);
  }
}

function fail(exit: Exclude<VerifyExit, 0>, message: string, at: { segment?: string; line?: number; seq?: number } = {}, code: string = VERIFY_EXIT_CODES[exit]): never {
  const where = [at.segment, at.line === undefined ? undefined : `line ${at.line}`, at.seq === undefined ? undefined : `seq ${at.seq}`].filter((x) => x !== undefined).join(' ');
  throw new Stop({ exit, code, message: where === '' ? message : `${where}: ${message}`, ...at });
}

interface OpenedCheckpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
}

/** Verifies a checkpoint note with any of the keys; parse errors are exit 4, signature errors 5. */
function openCheckpoint(note: string, keys: NoteVerifier[], label: string): OpenedCheckpoint {
  let last: unknown = null;
  for (const k of keys) {
    try {
      return verifyCheckpoint(note, k);
    } catch (err) {
      last = err;
      if ((err as { code?: string }).code === 'LLMAUDIT_E_CHECKPOINT_PARSE') break;
    }
  }
  const code = (last as { code?: string } | null)?.code;
  const why = last instanceof Error ? last.message : 'no key given';
  if (code === 'LLMAUDIT_E_CHECKPOINT_PARSE') fail(4, `${label}: ${why}`);
  fail(5, `${label}: ${last instanceof Error ? why : 'no valid signature by the given key'}`);
}

/** A report of nothing verified yet (exit 1 until a verification says otherwise). */
export function emptyReport(dir: string): VerifyReport {
  return {
    ok: false,
    exit: 1,
    dir,
    origin: null,
    entries: 0,
    segments: 0,
    bytes: 0,
    checkpointsChecked: 0,
    latestCheckpoint: null,
    since: null,
    erased: { parts: 0, entries: 0, records: [] },
    media: { files: 0, bytes: 0, missing: 0 },
    from: 0,
    pruned: null,
    failure: null,
    warnings: [],
  };
}

export async function verifyLog(dir: string, options: VerifyOptions): Promise<VerifyReport> {
  const report = emptyReport(dir);
  try {
    await run(dir, options, report);
    report.ok = true;
    report.exit = 0;
  } catch (err) {
    if (err instanceof Stop) report.failure = err.failure;
    else if (err instanceof LineTooLongError) report.failure = { exit: 4, code: VERIFY_EXIT_CODES[4], message: err.message, line: err.lineNo };
    else {
      const code = (err as { code?: string }).code ?? '';
      report.failure = { exit: 1, code: VERIFY_EXIT_CODES[1], message: `${code === '' ? '' : `${code}: `}${(err as Error).message}` };
    }
    report.exit = report.failure.exit;
  }
  return report;
}

async function run(dir: string, options: VerifyOptions, report: VerifyReport): Promise<void> {
  const keys = options.keys;
  try {
    if (!(await stat(dir)).isDirectory()) fail(1, `${dir} is not a directory`);
  } catch (err) {
    if (err instanceof Stop) throw err;
    fail(1, `${dir}: ${(err as { code?: string }).code ?? String(err)}`);
  }
  const segments = await listSegments(dir);
  if (segments.length === 0) fail(1, `${dir} holds no log segments (seg-NNNNNN.jsonl)`);
  // A pruned log starts at a later segment (checked against its prune record below); no gap after it.
  for (const [i, seg] of segments.entries()) {
    const want = i === 0 ? seg.number : (segments[0] as SegmentFile).number + i;
    if (seg.number !== want) fail(2, `segment ${path.basename(seg.name)} follows seg number ${want - 1}: segment(s) missing`, { segment: seg.name });
  }
  report.segments = segments.length;
  let totalBytes = 0;
  for (const s of segments) totalBytes += (await stat(s.path)).size;

  // Checkpoints: the newest one is opened first, so a wrong key is reported as such (exit 5)
  // before anything else; the others are opened when the stream reaches their size.
  const files: Array<CheckpointFile & { since?: boolean; note?: string }> = await listCheckpoints(dir);
  let origin: string | null = null;
  const newest = files.at(-1);
  if (newest !== undefined) {
    const cp = openCheckpoint(await readFile(newest.path, 'utf8'), keys, `checkpoints/${newest.name}`);
    origin = cp.origin;
    report.origin = origin;
    report.latestCheckpoint = { size: cp.size, rootHash: cp.rootHash.toString('base64'), writtenAt: (await stat(newest.path)).mtime.toISOString() };
  }
  const latestFile = path.join(dir, LATEST_CHECKPOINT);
  const latestNote = await readFile(latestFile, 'utf8').catch(() => null);
  if (latestNote !== null) {
    const cp = openCheckpoint(latestNote, keys, LATEST_CHECKPOINT);
    files.push({ size: cp.size, name: LATEST_CHECKPOINT, path: latestFile, note: latestNote });
  }
  if (options.since !== undefined) {
    const cp = openCheckpoint(options.since, keys, '--since checkpoint');
    if (origin !== null && cp.origin !== origin) fail(6, `--since checkpoint is for origin ${cp.origin}, the log is ${origin}`);
    report.since = { size: cp.size, rootHash: cp.rootHash.toString('base64') };
    files.push({ size: cp.size, name: '--since', path: '', since: true, note: options.since });
  }
  files.sort((a, b) => a.size - b.size);
  const maxCovered = files.reduce((m, f) => Math.max(m, f.since === true ? 0 : f.size), 0);
  const sealSizes = new Set(files.filter((f) => f.since !== true).map((f) => f.size));
  let nextCp = 0;

  // Where the verification starts: seq 0, or (pruned, --from-seq) the tree at `start` from the
  // tiles; --from-seq no later than the tiles reach (their last full tile).
  const starts = await segmentStartsOf(segments);
  const firstSeq = starts[0] ?? 0;
  let start = Math.max(firstSeq, options.fromSeq ?? 0);
  let head: Head | null = null;
  let acc = new MerkleAccumulator();
  if (start > 0) {
    const opened = await openHead(dir, start, firstSeq);
    if (typeof opened === 'string') fail(2, `the log starts at seq ${start}: ${opened}`, { segment: segments[0]?.name ?? '' });
    if (opened !== null) ({ head, acc } = opened);
    start = acc.size;
  }
  let first = 0;
  starts.forEach((st, i) => {
    if (st !== null && st <= start) first = i;
  });
  report.from = start;
  // At each segment's first entry: the tree's root before it and its prevHash (a prune's cut is there).
  const atSegmentStart = new Map<number, { root: Buffer; prevHash: string }>();
  const prunes: PruneFields[] = [];
  let prevHash: string | null = null;
  let expected = start;
  let bytesDone = 0;
  let lastProgress = 0;
  let unsignedTail = 0;
  let checkedSignature = false;
  const checkAll = (options.entrySignatures ?? 'uncovered') === 'all';
  // One reference per distinct media file (its first entry), checked once the chain is intact.
  const media = new Map<string, MediaRefAt>();
  // Erased entries (seq ranges, in order) and the ranges erasure records list: every erased entry
  // must be listed by a record (checked at the end, as records follow what they erase).
  const erasedRanges: Array<[number, number]> = [];
  const listed: Array<[number, number]> = [];
  // The previous entry, to name it precisely when the next one's prevHash does not link to it.
  let prev: { at: { segment: string; line: number; seq: number }; hash: Buffer; sig: string | undefined; sigChecked: boolean } | null = null;
  // A sealed segment ends where a checkpoint is. Checked once the next segment's first seq is
  // known, so a missing entry is reported as such rather than as a missing seal.
  let pendingSeal: { segment: string; end: number } | null = null;
  const checkSeal = (): void => {
    if (pendingSeal !== null && !sealSizes.has(pendingSeal.end)) {
      fail(2, `segment is not sealed: no checkpoint at size ${pendingSeal.end}, where it ends`, { segment: pendingSeal.segment });
    }
    pendingSeal = null;
  };

  const reachCheckpoints = async (): Promise<void> => {
    for (; nextCp < files.length && (files[nextCp] as CheckpointFile).size <= acc.size; nextCp++) {
      const f = files[nextCp] as CheckpointFile & { since?: boolean; note?: string };
      const label = f.since === true ? '--since checkpoint' : f.name === LATEST_CHECKPOINT ? LATEST_CHECKPOINT : `checkpoints/${f.name}`;
      const cp = openCheckpoint(f.note ?? (await readFile(f.path, 'utf8')), keys, label);
      if (f.since !== true && f.name !== LATEST_CHECKPOINT && String(cp.size).padStart(f.name.length, '0') !== f.name) fail(4, `${label} holds size ${cp.size}`);
      if (origin !== null && cp.origin !== origin) fail(f.since === true ? 6 : 3, `${label} is for origin ${cp.origin}, the log is ${origin}`);
      // Below the start (pruned, --from-seq): a consistency proof from the tiles to the tree at the start.
      const same = head !== null && cp.size < acc.size ? await consistentBelow(head, cp.size, cp.rootHash) : acc.root().equals(cp.rootHash);
      if (!same) {
        if (f.since === true) fail(6, `the log's tree at size ${cp.size} differs from the given checkpoint: the log was rewritten or forked`);
        fail(3, `${label} signed a different tree at size ${cp.size}: entries before it were changed`);
      }
      report.checkpointsChecked++;
    }
  };
  await reachCheckpoints(); // checkpoints at size 0

  for (const [si, seg] of segments.entries()) {
    if (si < first) continue;
    const isLastSeg = si === segments.length - 1;
    let lines = 0;
    const skipBelowStart = si === first && start > (starts[first] ?? 0);
    read: for await (const batch of readLineBatches(seg.path)) for (const l of batch) {
      if (skipBelowStart && l.terminated && (seqHint(l.data.toString('latin1')) ?? start) < start) {
        bytesDone += l.bytes;
        continue;
      }
      bytesDone += l.bytes;
      const at = { segment: seg.name, line: l.lineNo };
      if (!l.terminated) {
        if (!isLastSeg) fail(4, 'incomplete last line inside a sealed segment', at);
        // A torn write at the very end: harmless if no checkpoint covers it (the writer cuts it off
        // on its next start); if one does, the end-of-log check below reports the missing entries.
        report.warnings.push(`${seg.name} line ${l.lineNo}: incomplete last line (${l.bytes} bytes): a torn write, not an entry`);
        break read;
      }
      lines++;
      // A line in the writer's form is checked from its bytes; any other (and one the byte check
      // does not pass) by the general path, which says what is wrong (ADR 0024).
      let c: CheckedBytes | CheckedLine | LineProblem | null = checkWriterLine(l.data);
      if (c === null) {
        c = checkLine(l.data.toString('utf8'));
        if (isLineProblem(c)) fail(4, c.message, at);
      }
      const e: EntryFields = c.entry;
      // A literal, not a spread of `at`: this runs once per entry.
      const where = { segment: seg.name, line: l.lineNo, seq: e.seq };
      if (e.seq !== expected) {
        if (lines === 1 && si > 0) fail(2, `segment starts at seq ${e.seq}, the previous segment ended at seq ${expected - 1}`, where);
        if (e.seq < expected) fail(2, `seq ${e.seq} after seq ${expected - 1}: entry duplicated or out of order`, where);
        fail(2, `seq ${e.seq} where ${expected} was expected: entries missing or out of order`, where);
      }
      if (lines === 1) checkSeal();
      if (origin === null) report.origin = origin = e.origin;
      if (e.origin !== origin) fail(3, `origin ${e.origin} differs from the log's ${origin}`, where);
      if (lines === 1) atSegmentStart.set(e.seq, { root: acc.root(), prevHash: e.prevHash });
      if (e.seq === 0) {
        if (e.prevHash !== genesisPrevHash(origin)) fail(3, "prevHash is not the genesis hash of the log's origin", where);
      } else if (head !== null && e.seq === start) {
        if (!(await linksToHead(head, e.prevHash))) fail(3, `prevHash is not the hash of seq ${e.seq - 1} in the tree the hash tiles hold at the start`, where);
      } else if (e.prevHash !== prevHash) {
        // Was the previous entry changed and re-hashed? Its signature (if not yet checked) says so.
        if (prev !== null && prev.sig !== undefined && !prev.sigChecked && !keys.some((k) => k.verify((prev as { hash: Buffer }).hash, Buffer.from(prev?.sig ?? '', 'base64')))) {
          fail(3, 'the entry signature does not verify: the entry was changed and re-hashed', prev.at);
        }
        fail(3, `prevHash does not match the hash of seq ${e.seq - 1}: one of the two entries was changed`, where);
      }
      if (c.partMismatch !== null) fail(3, `the content does not match its hash: ${c.partMismatch}`, where);
      if (c.computedHash.toString('hex') !== e.hash) fail(3, 'the content does not match its hash', where);
      if (e.sig === undefined) {
        if (e.seq >= maxCovered) unsignedTail++;
      } else if (checkAll || e.seq >= maxCovered) {
        const sig = Buffer.from(e.sig, 'base64');
        if (!keys.some((k) => k.verify(c.computedHash, sig))) {
          // With no checkpoint to establish the key, a first signature that fails is most likely a wrong key.
          if (newest === undefined && !checkedSignature) fail(5, 'the entry signature does not verify with the given key (wrong key?)', where);
          fail(3, 'the entry signature does not verify: the entry was changed and re-hashed', where);
        }
        checkedSignature = true;
      }
      const refs = mediaRefsOf(e, e.seq);
      if (typeof refs === 'string') fail(4, refs, where);
      if (c.erased.length > 0) {
        report.erased.parts += c.erased.length;
        report.erased.entries++;
        const last = erasedRanges.at(-1);
        if (last !== undefined && last[1] === e.seq - 1) last[1] = e.seq;
        else erasedRanges.push([e.seq, e.seq]);
      }
      const ks = (e as { kind?: unknown }).kind;
      if (ks === 'erasure') {
        const ranges = erasureRanges(e as unknown as Record<string, unknown>);
        if (typeof ranges === 'string') fail(4, `erasure record: ${ranges}`, where);
        for (const r of ranges) listed.push(r);
        report.erased.records.push(e.seq);
      } else if (ks === 'prune') {
        const pf = pruneFields(e as unknown as Record<string, unknown>);
        if (typeof pf === 'string') fail(4, `prune record: ${pf}`, where);
        // Authenticated by its own signature, or (written without one) by a checkpoint covering it;
        // an unauthenticated one may not be what the log's start depends on (checkPruned).
        if (e.sig !== undefined && !keys.some((k) => k.verify(c.computedHash, Buffer.from(e.sig as string, 'base64')))) fail(3, "the prune record is not signed by the log's key", where);
        pf.authenticated = e.sig !== undefined || e.seq < maxCovered;
        // Its cut against the chain: below the start by a consistency proof, else where a segment starts.
        const cut = atSegmentStart.get(pf.firstKept);
        if (pf.firstKept < start) {
          if (head === null || !(await consistentBelow(head, pf.firstKept, pf.rootHash))) fail(3, `the prune record states a tree at size ${pf.firstKept} the log's tree does not extend`, where);
        } else if (cut === undefined) fail(3, `the prune record's cut at seq ${pf.firstKept} is not where a segment starts`, where);
        else if (!cut.root.equals(pf.rootHash)) fail(3, `the prune record states a root at size ${pf.firstKept} the entries do not have`, where);
        else if (cut.prevHash !== pf.prevHash) fail(3, `the prune record's prevHash is not the prevHash of seq ${pf.firstKept}`, where);
        prunes.push(pf);
      }
      // Media of an erased part are deleted with it: not checked.
      if (refs.length > 0) {
        const erasedUnder = c.erased.map((p) => `${p}/`);
        const pointers = (e.media ?? []) as Array<{ pointer?: unknown }>;
        refs.forEach((r, i) => {
          if (erasedUnder.length > 0 && erasedUnder.some((p) => String(pointers[i]?.pointer ?? '').startsWith(p))) return;
          if (!media.has(r.path)) media.set(r.path, r);
        });
      }
      acc.push(leafHash(c.computedHash));
      prev = { at: where, hash: c.computedHash, sig: e.sig, sigChecked: e.sig !== undefined && (checkAll || e.seq >= maxCovered) };
      prevHash = e.hash;
      expected = e.seq + 1;
      report.entries = expected;
      report.bytes = bytesDone;
      // Only when a checkpoint is due: an await per entry costs a promise and a turn of the queue.
      if (nextCp < files.length && (files[nextCp] as CheckpointFile).size <= acc.size) await reachCheckpoints();
      if (options.onProgress !== undefined && bytesDone - lastProgress >= 4 << 20) {
        lastProgress = bytesDone;
        options.onProgress({ phase: 'entries', bytes: bytesDone, totalBytes, entries: expected });
      }
    }
    if (!isLastSeg) {
      if (lines === 0) fail(2, 'empty segment before the last one', { segment: seg.name });
      pendingSeal = { segment: seg.name, end: expected };
    }
  }
  checkSeal();
  report.bytes = bytesDone;
  report.origin = origin;
  options.onProgress?.({ phase: 'entries', bytes: bytesDone, totalBytes, entries: expected });
  const beyond = files[nextCp];
  if (beyond !== undefined) {
    const label = beyond.since === true ? 'the given checkpoint' : beyond.name === LATEST_CHECKPOINT ? LATEST_CHECKPOINT : `checkpoints/${beyond.name}`;
    if (beyond.since === true) fail(6, `${label} has size ${beyond.size} but the log ends at ${expected}: the log was rolled back or truncated`);
    fail(2, `${label} covers ${beyond.size} entries but the log ends at ${expected}: entries at the end are missing (truncated)`);
  }
  checkErasures(erasedRanges, listed);
  checkPruned(report, segments[first] as SegmentFile, firstSeq, start, prunes);
  if (unsignedTail > 0) report.warnings.push(`${unsignedTail} entries after the newest checkpoint carry no signature: they are hash-chained but not authenticated`);
  await checkMedia(dir, media, options, report);
}

/**
 * A log starting after seq 0 needs a prune record for its first segment (else entries are missing,
 * 2): one whose cut is the first seq present, or one whose deletion a crash interrupted (its cut is
 * later and it lists the first segment present). `--from-seq` starts later on purpose.
 */
function checkPruned(report: VerifyReport, firstSeg: SegmentFile, firstSeq: number, start: number, prunes: PruneFields[]): void {
  for (const p of prunes) if (!p.authenticated) report.warnings.push(`the prune record at seq ${p.seq} carries no signature and no checkpoint covers it yet: it is not authenticated`);
  const pending = prunes.filter((p) => p.firstKept > firstSeq).at(-1);
  if (prunes.length > 0) report.pruned = { records: prunes.map((p) => p.seq), recordSeq: (prunes.find((p) => p.firstKept === firstSeq) ?? pending ?? null)?.seq ?? null, firstSeq };
  if (pending !== undefined) report.warnings.push(`the prune recorded at seq ${pending.seq} is incomplete: entries ${firstSeq} to ${pending.firstKept - 1} it deletes are still present (the next prune deletes them)`);
  if (firstSeq === 0 || start > firstSeq) return;
  const covering = prunes.filter((p) => p.firstKept === firstSeq || (p.firstKept > firstSeq && firstSeg.number >= p.segments[0] && firstSeg.number <= p.segments[1]));
  const unauthenticated = covering.find((p) => !p.authenticated);
  if (covering.length > 0 && unauthenticated !== undefined && covering.every((p) => !p.authenticated)) fail(3, `the log starts at seq ${firstSeq} by the prune record at seq ${unauthenticated.seq}, which carries no signature and no checkpoint covers: it is not authenticated`, { seq: unauthenticated.seq });
  if (covering.length === 0) fail(2, `the log starts at seq ${firstSeq}: the entries before it are missing (segments deleted) and no prune record in the log has its cut there`, { segment: firstSeg.name });
}

/** The `erasure.entries` ranges of a record at `e.seq`, or why they are not in the format. */
function erasureRanges(e: Record<string, unknown>): Array<[number, number]> | string {
  const er = e.erasure as { entries?: unknown } | undefined;
  if (er === null || typeof er !== 'object' || !Array.isArray(er.entries)) return 'erasure.entries is not an array';
  const out: Array<[number, number]> = [];
  for (const r of er.entries as unknown[]) {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) return 'an erasure.entries range is not [from, to]';
    const [a, b] = r as [number, number];
    if (a > b || b >= (e.seq as number)) return `the range [${a}, ${b}] is not a range of earlier entries`;
    out.push([a, b]);
  }
  return out;
}

/** Every erased entry must be listed by an erasure record: else content was removed without one (3). */
function checkErasures(erased: Array<[number, number]>, listed: Array<[number, number]>): void {
  if (erased.length === 0) return;
  const merged: Array<[number, number]> = [];
  for (const [a, b] of [...listed].sort((x, y) => x[0] - y[0])) {
    const last = merged.at(-1);
    if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  let j = 0;
  for (const [a, b] of erased) {
    for (let s = a; s <= b; ) {
      while (j < merged.length && (merged[j] as [number, number])[1] < s) j++;
      const m = merged[j];
      if (m === undefined || m[0] > s) fail(3, 'a content part is erased but no erasure record lists the entry: content was removed outside an erasure', { seq: s });
      s = m[1] + 1;
    }
  }
}

async function checkMedia(dir: string, media: Map<string, MediaRefAt>, options: VerifyOptions, report: VerifyReport): Promise<void> {
  if (media.size === 0) return;
  let totalBytes = 0;
  for (const r of media.values()) totalBytes += r.bytes;
  let done = 0;
  let lastProgress = 0;
  const onBytes = (n: number): void => {
    done += n;
    if (options.onProgress !== undefined && done - lastProgress >= 4 << 20) {
      lastProgress = done;
      options.onProgress({ phase: 'media', bytes: done, totalBytes, entries: report.entries });
    }
  };
  const missing: MediaRefAt[] = [];
  for (const ref of media.values()) {
    const r = await checkMediaFile(dir, ref, onBytes);
    if (r.kind === 'ok') {
      report.media.files++;
      report.media.bytes += r.bytes;
    } else if (r.kind === 'altered') {
      fail(3, `${ref.path} was altered: its SHA-256 is ${r.actual} (${r.bytes} bytes), the entry records ${ref.sha256}`, { seq: ref.seq }, 'LLMAUDIT_E_MEDIA_TAMPERED');
    } else if (r.kind === 'unreadable') {
      fail(1, `${ref.path} cannot be read: ${r.code}`, { seq: ref.seq });
    } else {
      if (options.strictMedia === true) fail(2, `${ref.path} is missing (--strict-media)`, { seq: ref.seq }, 'LLMAUDIT_E_MEDIA_MISSING');
      missing.push(ref);
    }
  }
  options.onProgress?.({ phase: 'media', bytes: done, totalBytes, entries: report.entries });
  report.media.missing = missing.length;
  for (const ref of missing.slice(0, MISSING_MEDIA_NAMED)) report.warnings.push(`seq ${ref.seq}: ${ref.path} is missing: the entry's media cannot be checked`);
  if (missing.length > MISSING_MEDIA_NAMED) report.warnings.push(`${missing.length - MISSING_MEDIA_NAMED} more media files are missing`);
}
