/**
 * The audit log on a thread of its own (docs/adr/0010-log-writer-thread.md). `openLogInThread`
 * starts log-worker.ts, which opens the chain with openLog(), and returns an AuditLog whose
 * append() only queues the payload: the payloads of one turn of the event loop go to the writer
 * in one message, and canonical JSON, SHA-256, Ed25519 and write(2) all run on the writer's
 * thread. The proxy's event loop keeps none of that work and none of its garbage, which is what
 * a p99 needs on a small machine (bench/proxy.ts). A large JSON request body given with its text
 * (PayloadSource) goes as those bytes, moved to the writer without a structured clone of the
 * parsed value (docs/adr/0025-large-bodies-off-the-event-loop.md).
 *
 * `size`, `latestCheckpoint()` and `stats()` answer synchronously from a mirror that every answer
 * of the writer refreshes. If the thread dies, every waiting call rejects with
 * LLMAUDIT_E_LOG_FAILED, as does every later one, and onBackgroundError hears of it once.
 */
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LlmauditError } from '../errors.ts';
import { degradePayload } from './degrade-entry.ts';
import { logError } from './log-errors.ts';
import { BACKLOG_ENTRIES, type AuditLog } from './log-writer.ts';
import type { AppendResult, ConsistencyProofBundle, EntryPayload, InclusionProofBundle, LogStats } from './types.ts';
import { fromWireError, type CallMethod, type FromWriter, type PayloadSource, type ThreadOpenOptions, type ToWriter, type WireCheckpoint, type WriterState } from './log-thread-protocol.ts';

export interface ThreadLogOptions extends ThreadOpenOptions {
  /** Errors of the writer's background work, and the thread's death. */
  onBackgroundError?: (err: LlmauditError) => void;
  /** Every checkpoint the writer stores. */
  onCheckpoint?: (cp: WireCheckpoint) => void;
  /** The worker script (tests); default: the built log-worker.mjs (see logWorkerScript). */
  workerScript?: URL | string;
  /**
   * batched: how long (ms) an append may wait on this thread for others to go with it in one
   * message (default APPEND_WINDOW_MS). strict ignores it: its appends go at the end of the turn.
   */
  appendWindowMs?: number;
}

/**
 * batched: the payloads of up to this many ms travel to the writer in one message
 * (docs/adr/0018-sidecar-cost-per-exchange.md). Every message wakes the writer thread and its
 * answer wakes the event loop; each wake costs both threads more CPU than canonicalizing,
 * hashing and signing an entry, so exchanges that arrive a millisecond apart pay it once per window
 * instead of once each. The client's response does not wait for a batched append.
 */
export const APPEND_WINDOW_MS = 5;
/** A window's outbox goes at once when it holds this many payloads. */
export const APPEND_WINDOW_MAX = 64;

/**
 * The built writer thread: sidecar/dist/log-worker.mjs beside the bundle's entry or chunk that
 * runs this code, or — when this runs from the TypeScript sources (tests, tsx) — the one the last
 * `npm run build` left in sidecar/dist. Null when there is none (then the caller writes in-process).
 */
export function logWorkerScript(): URL | null {
  const here = import.meta.url;
  const candidates = here.endsWith('.ts') ? ['../../dist/log-worker.mjs'] : ['./log-worker.mjs', '../log-worker.mjs'];
  for (const c of candidates) {
    const u = new URL(c, here);
    if (existsSync(fileURLToPath(u))) return u;
  }
  return null;
}

/** The writer thread's young generation (MiB): scavenges of entry-sized garbage stay cheap, its resident size small. */
export const WRITER_YOUNG_GENERATION_MB = 6;

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export async function openLogInThread(options: ThreadLogOptions): Promise<AuditLog> {
  const { onBackgroundError, onCheckpoint, workerScript, appendWindowMs, ...open } = options;
  const script = workerScript ?? logWorkerScript();
  if (script === null) throw logError('LLMAUDIT_E_LOG_WRITE', 'the log writer thread (log-worker.mjs) is not built: run `npm run build`');
  // The writer's young generation is capped (docs/adr/0018-sidecar-cost-per-exchange.md): its garbage
  // is short-lived entry text, and V8's default 16 MiB semi-spaces are resident memory a sidecar pays for.
  // V8 reads --max-semi-space-size when it creates each isolate, and the flag overrides
  // `resourceLimits`: one given to the process for the event loop's young generation (the sidecar
  // image's ENTRYPOINT, docs/adr/0027-sidecar-memory-at-rest.md) is cleared before the writer's isolate exists.
  setFlagsFromString('--max-semi-space-size=0');
  const worker = new Worker(script, { workerData: open satisfies ThreadOpenOptions, resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB } });
  const first = await new Promise<FromWriter>((resolve, reject) => {
    const onExit = (code: number) => reject(logError('LLMAUDIT_E_LOG_FAILED', `the log writer thread exited with ${code} while opening`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: FromWriter) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      resolve(m);
    });
  });
  if (first.t !== 'opened') {
    await worker.terminate();
    throw first.t === 'open-failed' ? fromWireError(first.error) : logError('LLMAUDIT_E_LOG_FAILED', `unexpected first message ${first.t} from the log writer thread`);
  }
  const windowMs = open.durability === 'strict' ? 0 : (appendWindowMs ?? APPEND_WINDOW_MS);
  return new ThreadLog(worker, open, first.state, first.checkpoint, onBackgroundError ?? (() => undefined), onCheckpoint ?? null, windowMs);
}

class ThreadLog implements AuditLog {
  readonly dir: string;
  readonly origin: string;
  private state: WriterState;
  private checkpointNote: WireCheckpoint | null;
  private nextId = 0;
  private outbox: EntryPayload[] = [];
  /** The request bodies of outbox payloads sent as text: [index in the outbox, text]. */
  private outboxSources: Array<[number, Uint8Array]> = [];
  private outboxFirst = 0;
  private flushScheduled = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly appends = new Map<number, Waiter<AppendResult>>();
  private readonly calls = new Map<number, Waiter<unknown>>();
  private failed: LlmauditError | null = null;
  private closing: Promise<void> | null = null;
  private exited = false;
  private refd = true;
  /** degradeRefused: the appends whose degraded form this side posted, for their answers. */
  private readonly degradedHere = new Map<number, NonNullable<AppendResult['degraded']>>();
  private readonly degradeRefused: boolean;

  constructor(
    private readonly worker: Worker,
    open: ThreadOpenOptions,
    state: WriterState,
    checkpoint: WireCheckpoint | null,
    private readonly onBgError: (err: LlmauditError) => void,
    private readonly onCp: ((cp: WireCheckpoint) => void) | null,
    private readonly windowMs: number,
  ) {
    this.dir = open.dir;
    this.origin = open.origin;
    this.degradeRefused = open.degradeRefused === true;
    this.state = state;
    this.checkpointNote = checkpoint;
    worker.on('message', (m: FromWriter) => this.onMessage(m));
    worker.on('error', (err: Error) => this.die(`the log writer thread failed: ${err.message}`));
    worker.on('exit', (code: number) => {
      this.exited = true;
      if (this.closing === null || this.calls.size > 0 || this.appends.size > 0) this.die(`the log writer thread exited with ${code}`);
    });
    this.updateRef();
  }

  get size(): number {
    return this.state.size;
  }

  /** Refused payloads are written degraded by the log itself (ThreadOpenOptions.degradeRefused). */
  get degradesRefused(): boolean {
    return this.degradeRefused;
  }

  append(payload: EntryPayload, source?: PayloadSource): Promise<AppendResult> {
    if (this.closing !== null) return Promise.reject(logError('LLMAUDIT_E_LOG_CLOSED'));
    if (this.failed !== null) return Promise.reject(logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }));
    const id = this.nextId++;
    if (this.outbox.length === 0) this.outboxFirst = id;
    if (source !== undefined) this.outboxSources.push([this.outbox.length, source.requestBody]);
    this.outbox.push(payload);
    if (this.windowMs > 0 && this.outbox.length < APPEND_WINDOW_MAX) {
      this.flushTimer ??= setTimeout(this.flushOutbox, this.windowMs);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushOutbox);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.appends.set(id, { resolve, reject });
      if (this.appends.size === 1) this.updateRef();
    });
  }

  /** Posts the queued payloads as one message (before any call, so order is kept). */
  private readonly flushOutbox = (): void => {
    this.flushScheduled = false;
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.outbox.length === 0) return;
    const payloads = this.outbox;
    const sources = this.outboxSources;
    const first = this.outboxFirst;
    this.outbox = [];
    this.outboxSources = [];
    if (this.failed !== null) {
      for (let i = 0; i < payloads.length; i++) this.settleAppend(first + i, null, logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }));
      return;
    }
    try {
      this.postAppend(first, payloads, sources);
    } catch {
      // A payload that cannot be cloned (a function, a symbol...) fails alone, the rest go on.
      for (let i = 0; i < payloads.length; i++) {
        const own = sources.find((x) => x[0] === i);
        try {
          this.postAppend(first + i, [payloads[i] as EntryPayload], own === undefined ? [] : [[0, own[1]]]);
        } catch (err) {
          const refused = logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', (err as Error).message, { cause: err });
          if (this.degradeRefused && own === undefined) this.postDegraded(first + i, payloads[i] as EntryPayload, refused.message);
          else this.settleAppend(first + i, null, refused);
        }
      }
    }
  };

  /**
   * One append message. A payload with a source is posted with `request.body: null` (shallow
   * copies of the payload and its request: the caller's objects stay as they are) and its text as
   * an ArrayBuffer of its own, transferred: one copy of the bytes (ours, so moving it detaches
   * nothing the exchange still holds) in place of a structured clone of the parsed body.
   */
  private postAppend(first: number, payloads: EntryPayload[], sources: Array<[number, Uint8Array]>): void {
    if (sources.length === 0) {
      this.post({ t: 'append', first, payloads });
      return;
    }
    const wire = payloads.slice();
    const texts: Array<[number, ArrayBuffer]> = [];
    const transfer: ArrayBuffer[] = [];
    for (const [i, bytes] of sources) {
      const p = wire[i] as EntryPayload;
      wire[i] = { ...p, request: { ...p.request, body: null } };
      const ab = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(ab).set(bytes);
      texts.push([i, ab]);
      transfer.push(ab);
    }
    this.worker.postMessage({ t: 'append', first, payloads: wire, sources: texts } satisfies ToWriter, transfer);
  }

  /**
   * degradeRefused, for a payload that cannot be cloned: its degraded form is posted instead (and
   * without its bodies if that cannot be cloned either); the answer says so.
   */
  private postDegraded(id: number, payload: EntryPayload, reason: string): void {
    for (const withoutBodies of [false, true]) {
      try {
        this.post({ t: 'append', first: id, payloads: [degradePayload(payload, reason, withoutBodies)] });
        this.degradedHere.set(id, { reason, withoutBodies });
        return;
      } catch {
        // the next form, or the refusal below
      }
    }
    this.settleAppend(id, null, logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', reason));
  }

  private post(m: ToWriter): void {
    this.worker.postMessage(m);
  }

  private call<T>(method: CallMethod, args: unknown[] = []): Promise<T> {
    if (this.failed !== null) return Promise.reject(logError('LLMAUDIT_E_LOG_FAILED', this.failed.message, { cause: this.failed }));
    this.flushOutbox();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.calls.size === 1) this.updateRef();
      this.post({ t: 'call', id, method, args });
    });
  }

  private onMessage(m: FromWriter): void {
    switch (m.t) {
      case 'appended':
        this.state = m.state;
        for (const r of m.results) {
          if (r.length === 2) this.settleAppend(r[0], null, fromWireError(r[1]));
          else if (r.length === 4) this.settleAppend(r[0], { seq: r[1], hash: r[2], ts: r[3] }, null);
          else this.settleAppend(r[0], { seq: r[1], hash: r[2], ts: r[3], degraded: { reason: r[4], withoutBodies: r[5] } }, null);
        }
        return;
      case 'result': {
        this.state = m.state;
        const w = this.calls.get(m.id);
        if (w === undefined) return;
        this.calls.delete(m.id);
        if (this.calls.size === 0) this.updateRef();
        if (m.ok) w.resolve(m.value);
        else w.reject(fromWireError(m.error));
        return;
      }
      case 'checkpoint':
        this.checkpointNote = m.checkpoint;
        this.onCp?.(m.checkpoint);
        return;
      case 'background-error':
        this.onBgError(fromWireError(m.error));
        return;
      default:
        return;
    }
  }

  private settleAppend(id: number, ok: AppendResult | null, err: unknown): void {
    const here = this.degradedHere.size === 0 ? undefined : this.degradedHere.get(id);
    if (here !== undefined) {
      this.degradedHere.delete(id);
      if (ok !== null && ok.degraded === undefined) ok = { ...ok, degraded: here };
    }
    const w = this.appends.get(id);
    if (w === undefined) return;
    this.appends.delete(id);
    if (this.appends.size === 0) this.updateRef();
    if (ok !== null) w.resolve(ok);
    else w.reject(err);
  }

  /** The thread keeps the process alive only while something waits for it. */
  private updateRef(): void {
    const busy = this.appends.size > 0 || this.calls.size > 0;
    if (busy === this.refd || this.exited) return;
    this.refd = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }

  private die(reason: string): void {
    if (this.failed !== null) return;
    const err = logError('LLMAUDIT_E_LOG_FAILED', reason);
    this.failed = err;
    this.outbox = [];
    this.outboxSources = [];
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const appends = [...this.appends.values()];
    const calls = [...this.calls.values()];
    this.appends.clear();
    this.calls.clear();
    for (const w of appends) w.reject(err);
    for (const w of calls) w.reject(err);
    if (this.closing === null) this.onBgError(err);
  }

  flush(): Promise<void> {
    return this.call('flush');
  }

  checkpoint(): Promise<string> {
    return this.call('checkpoint');
  }

  latestCheckpoint(): string | null {
    return this.checkpointNote?.note ?? null;
  }

  seal(): Promise<void> {
    return this.call('seal');
  }

  inclusionProof(seq: number): Promise<InclusionProofBundle> {
    return this.call('inclusionProof', [seq]);
  }

  consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofBundle> {
    return this.call('consistencyProof', toSize === undefined ? [fromSize] : [fromSize, toSize]);
  }

  behind(): boolean {
    return this.appends.size >= BACKLOG_ENTRIES;
  }

  stats(): LogStats {
    return { size: this.state.size, queueDepth: this.appends.size, segment: this.state.segment, bytesWritten: this.state.bytesWritten, syncs: this.state.syncs, lastCheckpointAt: this.checkpointNote?.at ?? null };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (this.failed === null && !this.exited) await this.call('close');
      } finally {
        await this.worker.terminate();
      }
    })();
    return this.closing;
  }
}
