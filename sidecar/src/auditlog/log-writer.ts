// The audit-log writer: one per chain directory, one queue, group commit (ADR 0004).
//
// append() builds and signs the entry synchronously (seq, ts, prevHash, hash, sig: the chain order
// is the call order) and queues its line. In production the writer runs on a thread of its own
// (log-thread.ts, ADR 0010), so signing here keeps the proxy's event loop free. One loop owns the file: it writes everything queued as one
// write(2) on an O_APPEND descriptor, then either fdatasyncs before resolving (strict) or resolves
// at once and fdatasyncs within `syncIntervalMs` (batched). While a write or sync is in flight,
// new appends pile up and go out together: that is the group commit. Only after its bytes are
// written does an entry become a leaf of the Merkle tree, so a checkpoint never covers an entry
// that is not in the file. Disk full / read-only: the failed batch is cut off the file again
// (ftruncate to where it began), its appends and those queued behind it reject with a typed error
// and the chain continues from the last written entry; if even the cut fails, the writer stops
// (LLMAUDIT_E_LOG_FAILED) and the recovery of the next open repairs the tail.
//
// Longer than most files on purpose: the Writer class is the single owner of the segment file
// descriptor, and keeping every state transition of that file in one place is the point.
import { fdatasyncSync, writeSync } from 'node:fs';
import path from 'node:path';
import { buildEntry, CURRENT_VERSION, type EntryVersion } from './entry.ts';
import { makeDir } from './make-dir.ts';
import { leafHash } from './merkle.ts';
import { formatCheckpointBody, signCheckpoint } from './checkpoint.ts';
import { parseSignerKey, type NoteSigner } from './signed-note.ts';
import { segmentName } from './layout.ts';
import { acquireLock, type HeldLock } from './lock.ts';
import { ioErrorToLogError, logError } from './log-errors.ts';
import { nodeLogFs, syncDir, writeAll, type LogFileHandle, type LogFs } from './log-fs.ts';
import { recoverChain } from './recovery.ts';
import { storeCheckpoint } from './checkpoint-store.ts';
import { serveConsistencyProof, serveInclusionProof } from './proof-bundle.ts';
import type { TileStore } from './tiles.ts';
import type { LlmauditError } from '../errors.ts';
import type { ProofSource } from './proof-bundle.ts';
import type { PayloadSource } from './log-thread-protocol.ts';
import type { AppendResult, ConsistencyProofBundle, Durability, EntryPayload, InclusionProofBundle, LogStats } from './types.ts';

export interface OpenLogOptions {
  /** The chain directory (created if missing). */
  dir: string;
  /** Log origin, e.g. llmaudit.dev/<namespace>/<pod>/<uid>; also the checkpoint origin line. */
  origin: string;
  /** Signer key: signed-note `PRIVATE+KEY+...` text, or a parsed signer. */
  signerKey: string | NoteSigner;
  durability?: Durability;
  /** Sign every entry (default true); checkpoints are always signed. */
  signEntries?: boolean;
  segmentMaxBytes?: number;
  segmentMaxAgeMs?: number;
  /** Write a checkpoint this often when the log grew (0: only on seal, close and checkpoint()). */
  checkpointIntervalMs?: number;
  /** batched: the longest time a written entry waits for fdatasync (default 100). */
  syncIntervalMs?: number;
  fs?: LogFs;
  now?: () => number;
  /** Errors of background work (periodic sync, seal, checkpoint, tile flush). */
  onBackgroundError?: (err: LlmauditError) => void;
  /** Called with every checkpoint note the writer stores (log-thread.ts mirrors it). */
  onCheckpoint?: (cp: { size: number; note: string; at: string }) => void;
  /** The entry format of a new chain (default: the current one, 2); an existing chain keeps its own. */
  formatVersion?: EntryVersion;
  /** Entries are always signed on the writer's own thread; 'inline' is accepted and changes nothing. */
  signingThread?: 'inline';
  /**
   * The writer owns its thread (log-worker.ts). strict: a batch of one entry (nothing else was
   * waiting when it was cut, as when exchanges come one at a time) is fdatasynced with a blocking
   * call instead of through libuv's thread pool, which saves the pool's round trip; a larger batch
   * keeps the pool, so that the thread builds and signs the next batch's entries while the disk
   * syncs. Each batch starts on the next turn of the event loop, so that appends which arrived
   * meanwhile (messages queued while the thread blocked) go in the same batch and share its
   * fdatasync (docs/adr/0021-strict-append-latency.md). batched: the periodic fdatasync
   * (`syncIntervalMs`) blocks too. Never on a thread that serves anything else: the call blocks it
   * for as long as the disk takes.
   */
  blockingSync?: boolean;
}

export interface AuditLog {
  readonly dir: string;
  readonly origin: string;
  /** Number of entries written (the next append gets this seq once the queue is empty). */
  readonly size: number;
  /**
   * `source`: the text of a large request body, which the thread log sends instead of the parsed
   * value (log-thread-protocol.ts PayloadSource); the in-process writer has no use for it.
   */
  append(payload: EntryPayload, source?: PayloadSource): Promise<AppendResult>;
  /** Resolves once everything appended before the call is written and fdatasynced. */
  flush(): Promise<void>;
  /** Flushes, signs a checkpoint at the current size, stores it and returns the note. */
  checkpoint(): Promise<string>;
  /** The newest stored checkpoint note, or null. */
  latestCheckpoint(): string | null;
  /** Seals the current segment now (fdatasync + checkpoint); the next append starts a new one. */
  seal(): Promise<void>;
  inclusionProof(seq: number): Promise<InclusionProofBundle>;
  /**
   * From `fromSize` to `toSize` (default: the current size, signing a checkpoint there if needed).
   * A smaller `toSize` needs a checkpoint signed at exactly that size (checkpoints/ keeps them all).
   */
  consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofBundle>;
  stats(): LogStats;
  /** True while at least BACKLOG_ENTRIES appends wait to be written: callers should wait for theirs. */
  behind(): boolean;
  /** Drains the queue, fsyncs, writes a final checkpoint, releases the lock. Idempotent. */
  close(): Promise<void>;
}

interface Pending {
  seq: number;
  hash: string;
  hashBytes: Buffer;
  ts: string;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/**
 * The outbox: queued entries' lines, encoded as each entry is appended into one buffer that the
 * next batch writes as it is. The queue then holds no ropes of strings for the young generation to
 * copy (ADR 0023 decision 4), and no buffer of its own per line or per batch: a writer at 50
 * concurrent exchanges otherwise left up to ~16 MiB of dead line and batch buffers in its thread's
 * malloc arena between two collections (ADR 0018 decision 21). Two buffers take turns, so appends
 * during a batch's write go to the other. A line of LARGE_LINE_CHARS or more (a long context) gets a
 * buffer of its own, and a batch holding one is joined once, as every batch was before: copying it
 * into the outbox would grow and copy the outbox over and over instead.
 */
const OUTBOX_BYTES = 64 * 1024;
const OUTBOX_KEPT_BYTES = 1024 * 1024;
const LARGE_LINE_CHARS = 16 * 1024;

/** Queued appends at which behind() says so; the proxy then holds each response's end for its entry (sink.ts). */
export const BACKLOG_ENTRIES = 4096;

interface Task {
  run: () => Promise<void>;
}

const DEFAULTS = { segmentMaxBytes: 64 * 1024 * 1024, segmentMaxAgeMs: 3_600_000, syncIntervalMs: 100, checkpointIntervalMs: 0 };

/** The writer in this thread (openLog): an AuditLog that can also answer a refusal at once. */
export interface InProcessLog extends AuditLog {
  /**
   * append, with a refusal answered at once: `refused` holds the error (a payload the log cannot
   * build, a closed or failed log) that append would reject with, so the caller knows in the same
   * turn whether it must keep the payload (the writer thread uses it).
   */
  tryAppend(payload: EntryPayload): Promise<AppendResult> | { refused: unknown };
}

export async function openLog(options: OpenLogOptions): Promise<InProcessLog> {
  const fs = options.fs ?? nodeLogFs;
  const signer = typeof options.signerKey === 'string' ? parseSignerKey(options.signerKey) : options.signerKey;
  try {
    await makeDir(options.dir);
  } catch (err) {
    throw ioErrorToLogError(err, `creating ${options.dir}`);
  }
  let lock: HeldLock;
  try {
    lock = await acquireLock(options.dir);
  } catch (err) {
    if ((err as { code?: string }).code === 'LLMAUDIT_E_LOG_LOCKED') throw err;
    throw ioErrorToLogError(err, `locking ${options.dir}`);
  }
  try {
    const rec = await recoverChain({ dir: options.dir, origin: options.origin, fs });
    return new Writer(options, fs, signer, lock, rec);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/**
 * writeAll, but on the event loop when `fh` is a real file (node:fs/promises FileHandle has `fd`;
 * an injected LogFs adapter has none and keeps the asynchronous path). A batch append is one
 * write(2) into the page cache, which takes microseconds; a round trip through libuv's thread pool
 * costs the event loop more than that (about 35-40 µs of CPU per proxied exchange, measured with
 * bench/proxy.ts). Short writes loop as in writeAll; errors (ENOSPC, EROFS) throw the same way.
 */
async function appendBytes(fh: LogFileHandle, data: Uint8Array): Promise<void> {
  const fd = (fh as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return writeAll(fh, data);
  let off = 0;
  while (off < data.length) {
    const n = writeSync(fd, data, off, data.length - off);
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    off += n;
  }
}

/**
 * fdatasync of a segment file. `blocking` (the writer's own thread, OpenLogOptions.blockingSync):
 * fdatasync(2) on this thread, which saves the round trip through libuv's thread pool (a pool
 * thread woken, then this loop woken by its answer). An injected LogFs adapter (no `fd`) keeps
 * its asynchronous `datasync()`.
 */
async function datasync(fh: LogFileHandle, blocking: boolean): Promise<void> {
  const fd = (fh as { fd?: unknown }).fd;
  if (blocking && typeof fd === 'number') fdatasyncSync(fd);
  else await fh.datasync();
}

class Writer implements InProcessLog {
  readonly dir: string;
  readonly origin: string;
  private readonly fs: LogFs;
  private readonly signer: NoteSigner;
  private readonly strict: boolean;
  private readonly signEntries: boolean;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly syncMs: number;
  private readonly now: () => number;
  private readonly onBgError: (err: LlmauditError) => void;
  private readonly tiles: TileStore;
  private readonly lock: HeldLock;
  private readonly segmentStarts: Array<number | null>;
  private readonly version: EntryVersion;
  private readonly onCp: ((cp: { size: number; note: string; at: string }) => void) | null;
  private readonly blocking: boolean;

  // The chain head including queued entries, and the written (durable in strict mode) state.
  private nextSeq: number;
  private headHash: string;
  private written: number;
  private writtenHash: string;

  private fh: LogFileHandle | null = null;
  private segNo: number;
  private segBytes: number;
  private segFirstAt: number | null;
  private dirty = false;
  private bytesWritten = 0;
  private syncs = 0;
  private lastCp: { size: number; note: string; at: string } | null;
  private tsMs = Number.NaN;
  private tsText = '';

  private pending: Pending[] = [];
  private outbox: Buffer = Buffer.allocUnsafe(OUTBOX_BYTES);
  private outboxEnd = 0;
  /** Set when a large line came: the batch's bytes in order, up to outboxFrom in the outbox. */
  private outboxParts: Buffer[] | null = null;
  private outboxFrom = 0;
  private spareOutbox: Buffer | null = null;
  private tasks: Task[] = [];
  private looping = false;
  private failed: LlmauditError | null = null;
  private closing: Promise<void> | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private ageTimer: NodeJS.Timeout | null = null;
  private cpTimer: NodeJS.Timeout | null = null;

  constructor(o: OpenLogOptions, fs: LogFs, signer: NoteSigner, lock: HeldLock, rec: Awaited<ReturnType<typeof recoverChain>>) {
    this.dir = o.dir;
    this.origin = o.origin;
    this.fs = fs;
    this.signer = signer;
    this.strict = (o.durability ?? 'batched') === 'strict';
    this.signEntries = o.signEntries ?? true;
    this.maxBytes = o.segmentMaxBytes ?? DEFAULTS.segmentMaxBytes;
    this.maxAgeMs = o.segmentMaxAgeMs ?? DEFAULTS.segmentMaxAgeMs;
    this.syncMs = o.syncIntervalMs ?? DEFAULTS.syncIntervalMs;
    this.now = o.now ?? Date.now;
    this.onBgError = o.onBackgroundError ?? (() => undefined);
    this.lock = lock;
    // A chain never mixes entry formats: it keeps the version of its first entry.
    this.version = rec.version ?? o.formatVersion ?? CURRENT_VERSION;
    this.onCp = o.onCheckpoint ?? null;
    this.blocking = o.blockingSync === true;
    this.tiles = rec.tiles;
    this.nextSeq = this.written = rec.size;
    this.headHash = this.writtenHash = rec.lastHash;
    this.segmentStarts = [...rec.segmentStarts];
    const lastSeg = rec.segments.at(-1);
    this.segNo = lastSeg?.number ?? 1;
    if (lastSeg === undefined) this.segmentStarts.push(null);
    this.segBytes = rec.lastSegmentBytes;
    this.segFirstAt = rec.lastSegmentFirstAt;
    this.lastCp = rec.latestCheckpoint === null ? null : { size: rec.latestCheckpoint.size, note: rec.latestCheckpoint.note, at: new Date(this.now()).toISOString() };
    const cpMs = o.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs;
    if (cpMs > 0) {
      this.cpTimer = setInterval(() => {
        this.enqueue(() => this.checkpointIfGrown()).catch((e: unknown) => this.onBgError(e as LlmauditError));
      }, cpMs);
      this.cpTimer.unref();
    }
    if (this.segFirstAt !== null) this.armAgeTimer();
  }

  get size(): number {
    return this.written;
  }

  append(payload: EntryPayload): Promise<AppendResult> {
    const r = this.tryAppend(payload);
    return r instanceof Promise ? r : Promise.reject(r.refused);
  }

  tryAppend(payload: EntryPayload): Promise<AppendResult> | { refused: unknown } {
    if (this.closing !== null) return { refused: logError('LLMAUDIT_E_LOG_CLOSED') };
    if (this.failed !== null) return { refused: logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }) };
    const ts = this.timestamp();
    let built;
    try {
      built = buildEntry(payload, { seq: this.nextSeq, ts, origin: this.origin, prevHash: this.headHash }, this.signEntries ? this.signer : null, this.version);
    } catch (err) {
      return { refused: err };
    }
    const seq = this.nextSeq++;
    this.headHash = built.hash;
    return new Promise<AppendResult>((resolve, reject) => {
      this.encodeLine(built.line);
      this.pending.push({ seq, hash: built.hash, hashBytes: built.hashBytes, ts, resolve, reject });
      this.kick();
    });
  }

  /**
   * Appends a line's UTF-8 bytes to the outbox. When the worst case (3 bytes per UTF-16 unit) might
   * not fit, the line's exact length decides, and the outbox grows to hold it (at least doubling).
   */
  private encodeLine(line: string): void {
    if (line.length >= LARGE_LINE_CHARS) {
      const parts = (this.outboxParts ??= []);
      if (this.outboxEnd > this.outboxFrom) parts.push(this.outbox.subarray(this.outboxFrom, this.outboxEnd));
      parts.push(Buffer.from(line, 'utf8'));
      this.outboxFrom = this.outboxEnd;
      return;
    }
    const room = this.outbox.length - this.outboxEnd;
    if (room < line.length * 3) {
      const need = Buffer.byteLength(line, 'utf8');
      if (room < need) {
        const grown = Buffer.allocUnsafe(Math.max(this.outbox.length * 2, this.outboxEnd + need));
        this.outbox.copy(grown, 0, 0, this.outboxEnd);
        // Parts already cut from the old outbox keep it alive until the batch is written.
        this.outbox = grown;
      }
    }
    this.outboxEnd += this.outbox.write(line, this.outboxEnd, 'utf8');
  }

  /** The queued lines' bytes, for the batch being cut; later appends go to the other buffer. */
  private takeOutbox(): { whole: Buffer; data: Buffer } {
    const whole = this.outbox;
    let data = whole.subarray(this.outboxFrom, this.outboxEnd);
    if (this.outboxParts !== null) {
      if (data.length > 0) this.outboxParts.push(data);
      data = this.outboxParts.length === 1 ? (this.outboxParts[0] as Buffer) : Buffer.concat(this.outboxParts);
    }
    this.outbox = this.spareOutbox ?? Buffer.allocUnsafe(OUTBOX_BYTES);
    this.spareOutbox = null;
    this.emptyOutbox();
    return { whole, data };
  }

  /** The outbox holds no line (its buffer is kept). */
  private emptyOutbox(): void {
    this.outboxEnd = 0;
    this.outboxFrom = 0;
    this.outboxParts = null;
  }

  /** A batch's buffer, once written: kept for a later batch unless a large entry grew it. */
  private returnOutbox(whole: Buffer): void {
    if (whole.length <= OUTBOX_KEPT_BYTES) this.spareOutbox = whole;
  }

  /** The ISO 8601 text of now(), formatted once per millisecond: entries appended within one share it. */
  private timestamp(): string {
    const ms = this.now();
    if (ms !== this.tsMs) {
      this.tsMs = ms;
      this.tsText = new Date(ms).toISOString();
    }
    return this.tsText;
  }

  flush(): Promise<void> {
    return this.enqueue(() => this.syncIfDirty());
  }

  async checkpoint(): Promise<string> {
    let note = '';
    await this.enqueue(async () => {
      note = await this.writeCheckpoint();
    });
    return note;
  }

  latestCheckpoint(): string | null {
    return this.lastCp?.note ?? null;
  }

  seal(): Promise<void> {
    return this.enqueue(() => this.roll());
  }

  async inclusionProof(seq: number): Promise<InclusionProofBundle> {
    let out: InclusionProofBundle | null = null;
    await this.enqueue(async () => {
      out = await serveInclusionProof(this.proofSource(), seq);
    });
    return out as unknown as InclusionProofBundle;
  }

  async consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofBundle> {
    let out: ConsistencyProofBundle | null = null;
    await this.enqueue(async () => {
      out = await serveConsistencyProof(this.proofSource(), fromSize, toSize);
    });
    return out as unknown as ConsistencyProofBundle;
  }

  /** What proof-bundle.ts needs to serve a proof; called on the loop, so `written` is settled. */
  private proofSource(): ProofSource {
    return { dir: this.dir, segmentStarts: this.segmentStarts, size: this.written, latest: this.lastCp, tiles: this.tiles, checkpoint: () => this.writeCheckpoint() };
  }

  behind(): boolean {
    return this.pending.length >= BACKLOG_ENTRIES;
  }

  stats(): LogStats {
    return { size: this.written, queueDepth: this.pending.length, segment: this.segNo, bytesWritten: this.bytesWritten, syncs: this.syncs, lastCheckpointAt: this.lastCp?.at ?? null };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of [this.syncTimer, this.ageTimer, this.cpTimer]) if (t !== null) clearTimeout(t);
      try {
        await this.enqueue(async () => {
          if (this.failed === null && this.written > 0) {
            await this.syncIfDirty();
            await this.checkpointIfGrown();
            await this.tiles.flush();
          }
        });
      } finally {
        for (const t of [this.syncTimer, this.ageTimer, this.cpTimer]) if (t !== null) clearTimeout(t);
        await this.fh?.close().catch(() => undefined);
        this.fh = null;
        await this.lock.release();
      }
    })();
    return this.closing;
  }

  // ---- the loop: the only code that touches the segment file ----

  private enqueue(run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.tasks.push({
        run: () =>
          run().then(resolve, (e: unknown) => {
            reject(e);
          }),
      });
      this.kick();
    });
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    // Blocking: every message the thread received in this turn is appended before the batch is
    // cut (a port delivers queued messages one callback each, with microtasks run in between).
    if (this.blocking) setImmediate(() => void this.loop());
    else queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.pending.length > 0) {
          if (this.failed !== null) {
            this.rejectPending(logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }));
            continue;
          }
          const batch = this.pending;
          this.pending = [];
          const out = this.takeOutbox();
          try {
            await this.writeBatch(batch, out.data);
          } finally {
            this.returnOutbox(out.whole);
          }
          continue;
        }
        const task = this.tasks.shift();
        if (task === undefined) break;
        await task.run();
      }
    } finally {
      this.looping = false;
      if (this.pending.length > 0 || this.tasks.length > 0) this.kick();
    }
  }

  private rejectPending(err: LlmauditError): void {
    const p = this.pending;
    this.pending = [];
    this.emptyOutbox(); // their lines go with them
    for (const item of p) item.reject(err);
    this.nextSeq = this.written;
    this.headHash = this.writtenHash;
  }

  private async writeBatch(batch: Pending[], data: Buffer): Promise<void> {
    const fail = (err: LlmauditError): void => {
      for (const item of batch) item.reject(err);
      // Everything queued behind the batch chained onto it: reject it too and rewind the head.
      this.rejectPending(err);
    };
    if (this.fh !== null && this.segFirstAt !== null && (this.segBytes >= this.maxBytes || this.now() - this.segFirstAt >= this.maxAgeMs)) {
      try {
        await this.roll();
      } catch (err) {
        this.onBgError(err as LlmauditError); // keep writing into the unsealed segment; retried next batch
      }
      if (this.failed !== null) {
        fail(logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }));
        return;
      }
    }
    try {
      await this.ensureSegment();
    } catch (err) {
      fail(ioErrorToLogError(err, `opening ${segmentName(this.segNo)}`));
      return;
    }
    const fh = this.fh as LogFileHandle;
    const before = this.segBytes;
    try {
      await appendBytes(fh, data);
    } catch (err) {
      const e = ioErrorToLogError(err, `appending to ${segmentName(this.segNo)}`);
      try {
        await fh.truncate(before);
      } catch (cutErr) {
        this.markFailed(`cannot cut a failed write off ${segmentName(this.segNo)}`, cutErr);
      }
      fail(e);
      return;
    }
    this.segBytes += data.length;
    this.bytesWritten += data.length;
    if (this.strict) {
      try {
        // A batch of one blocks (no entry waits to be built meanwhile); a group commit keeps the pool.
        await datasync(fh, this.blocking && batch.length === 1);
        this.syncs++;
      } catch (err) {
        // After a failed fsync the page cache state is unknown (Linux marks the pages clean): stop.
        const e = ioErrorToLogError(err, `fdatasync of ${segmentName(this.segNo)}`);
        this.markFailed(e.message, e);
        fail(e);
        return;
      }
    } else {
      this.dirty = true;
      this.armSyncTimer();
    }
    if (this.segFirstAt === null) {
      this.segFirstAt = this.now();
      this.segmentStarts[this.segmentStarts.length - 1] = (batch[0] as Pending).seq;
      this.armAgeTimer();
    }
    const tileBoundary = Math.floor(this.written / 256) !== Math.floor((this.written + batch.length) / 256);
    for (const item of batch) this.tiles.append(leafHash(item.hashBytes));
    const last = batch[batch.length - 1] as Pending;
    this.written = last.seq + 1;
    this.writtenHash = last.hash;
    for (const item of batch) item.resolve({ seq: item.seq, hash: item.hash, ts: item.ts });
    if (tileBoundary) await this.tiles.flush().catch((e: unknown) => this.onBgError(ioErrorToLogError(e, 'writing hash tiles')));
  }

  private async ensureSegment(): Promise<void> {
    if (this.fh !== null) return;
    const file = path.join(this.dir, segmentName(this.segNo));
    this.fh = await this.fs.open(file, 'a', 0o644);
    this.segBytes = (await this.fh.stat()).size;
    await syncDir(this.fs, this.dir);
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.fh === null) return;
    try {
      // batched's periodic fdatasync: on the writer's own thread, it blocks for the disk instead of
      // waking a pool thread and then this one (docs/adr/0018-sidecar-cost-per-exchange.md, decision 13).
      await datasync(this.fh, this.blocking);
      this.syncs++;
      this.dirty = false;
    } catch (err) {
      const e = ioErrorToLogError(err, `fdatasync of ${segmentName(this.segNo)}`);
      this.markFailed(e.message, e);
      throw e;
    }
  }

  /** Stops the writer: every later append rejects LLMAUDIT_E_LOG_FAILED; reported once to onBackgroundError. */
  private markFailed(why: string, cause: unknown): void {
    if (this.failed !== null) return;
    this.failed = logError('LLMAUDIT_E_LOG_FAILED', why, { cause });
    this.onBgError(this.failed);
  }

  private armSyncTimer(): void {
    if (this.syncTimer !== null) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.enqueue(() => this.syncIfDirty()).catch((e: unknown) => this.onBgError(e as LlmauditError));
    }, this.syncMs);
    this.syncTimer.unref();
  }

  private armAgeTimer(): void {
    if (this.ageTimer !== null || this.segFirstAt === null) return;
    const due = Math.max(0, this.segFirstAt + this.maxAgeMs - this.now());
    this.ageTimer = setTimeout(() => {
      this.ageTimer = null;
      this.enqueue(async () => {
        if (this.segFirstAt !== null && this.now() - this.segFirstAt >= this.maxAgeMs) await this.roll();
        else this.armAgeTimer();
      }).catch((e: unknown) => this.onBgError(e as LlmauditError));
    }, due);
    this.ageTimer.unref();
  }

  /** Seal: make the segment durable, sign a checkpoint at its end, start the next segment lazily. */
  private async roll(): Promise<void> {
    if (this.fh === null || this.segFirstAt === null || this.failed !== null) return;
    await this.syncIfDirty();
    await this.writeCheckpoint();
    await this.fh.close();
    this.fh = null;
    this.segNo++;
    this.segBytes = 0;
    this.segFirstAt = null;
    this.segmentStarts.push(null);
    if (this.ageTimer !== null) clearTimeout(this.ageTimer);
    this.ageTimer = null;
  }

  private async checkpointIfGrown(): Promise<void> {
    if (this.failed === null && this.written > (this.lastCp?.size ?? 0)) await this.writeCheckpoint();
  }

  /** Signs and stores a checkpoint at the written size; only entries on disk are ever covered. */
  private async writeCheckpoint(): Promise<string> {
    if (this.failed !== null) throw logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed });
    await this.syncIfDirty();
    const size = this.written;
    if (this.lastCp !== null && this.lastCp.size === size) return this.lastCp.note;
    const rootHash = await this.tiles.root(size);
    // The tree's right edge as partial tiles, before the checkpoint that readers prove against:
    // derived data like every tile, so a failure is reported and the checkpoint still stored.
    if (this.tiles.size === size) await this.tiles.writePartials().catch((e: unknown) => this.onBgError(ioErrorToLogError(e, 'writing partial hash tiles')));
    const note = signCheckpoint(formatCheckpointBody({ origin: this.origin, size, rootHash }), this.signer);
    try {
      await storeCheckpoint(this.fs, this.dir, size, note);
    } catch (err) {
      throw ioErrorToLogError(err, `storing the checkpoint at size ${size}`);
    }
    this.lastCp = { size, note, at: new Date(this.now()).toISOString() };
    this.onCp?.(this.lastCp);
    return note;
  }
}
