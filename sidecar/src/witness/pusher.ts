// Pushes the log's checkpoints to a C2SP tlog-witness (https://c2sp.org/tlog-witness
// "add-checkpoint") and keeps the cosignatures beside them.
//
// It never blocks nor slows traffic: `offer()` only records the newest checkpoint (an older one
// still waiting is dropped: the newest wins, its consistency proof covers the older) and one
// background loop sends it, retrying with exponential backoff while the witness is down. The
// witness answers 409 with the size it holds when `old` is wrong (e.g. after a restart, when the
// pusher starts from 0): the pusher retries at once from that size with the proof from it. A
// witness size above the log's own means the log went back: nothing can prove that push, so it
// is counted and left for the witness to report.
//
// Cosignatures are appended to the signed note (C2SP tlog-witness: "the client MAY concatenate
// [the response] to the checkpoint"), stored over checkpoints/<size> and kept in memory for
// /v1/checkpoint. Per witness key only the newest cosignature is kept: the log re-pushes its head
// every interval so the witness sees it alive, and each answer carries a newer time.
import path from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Pool as UndiciPool } from 'undici';
import { Pool, requestOn } from '../undici-parts.ts';
import type { Logger } from 'pino';
import { CHECKPOINT_DIR, checkpointName } from '../auditlog/layout.ts';
import { nodeLogFs, writeFileAtomic } from '../auditlog/log-fs.ts';
import { parseCheckpointBody } from '../auditlog/checkpoint.ts';
import { parseSignatureLine, splitNote } from '../auditlog/signed-note.ts';
import type { ConsistencyProofBundle } from '../auditlog/types.ts';
import { TLOG_SIZE_CONTENT_TYPE, formatAddCheckpoint, parseSizeBody } from './add-checkpoint.ts';

export interface PusherLogView {
  readonly dir: string;
  consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofBundle>;
  latestCheckpoint(): string | null;
}

export interface WitnessPusherOptions {
  /** The submission prefix; requests go to <url>/add-checkpoint. */
  url: string;
  log: PusherLogView;
  registry: Registry;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Re-push the newest checkpoint this often even when the log did not grow (the witness's liveness signal). */
  intervalMs: number;
  backoff?: { minMs?: number; maxMs?: number };
  requestTimeoutMs?: number;
  /** Store cosigned notes over checkpoints/<size> (default true). */
  store?: boolean;
}

export type PushFailureReason = 'unreachable' | 'server_error' | 'not_found' | 'forbidden' | 'bad_request' | 'unprocessable' | 'conflict' | 'rolled_back' | 'proof';

interface Held {
  size: number;
  /** Checkpoint note text (no signatures). */
  text: string;
  /** The signed note with the newest cosignature per witness key. */
  note: string;
}

export class WitnessPusher {
  private readonly o: WitnessPusherOptions;
  private readonly pendingGauge: Gauge;
  private readonly failures: Counter<'reason'>;
  private pending: string | null = null;
  /** The size the witness holds for this log, as far as we know (0: unknown or none). */
  private known = 0;
  private held: Held | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private wake: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;
  private attempt = 0;
  /** Keep-alive connections to the witness, opened with the first push. */
  private pool: UndiciPool | null = null;

  constructor(options: WitnessPusherOptions) {
    this.o = options;
    const reg = options.registry;
    this.pendingGauge = (reg.getSingleMetric('llmaudit_witness_pending') as Gauge | undefined) ?? new Gauge({ name: 'llmaudit_witness_pending', help: 'Checkpoints waiting to be cosigned by the witness (0 or 1: the newest wins).', registers: [reg] });
    this.failures =
      (reg.getSingleMetric('llmaudit_witness_failures_total') as Counter<'reason'> | undefined) ??
      new Counter({ name: 'llmaudit_witness_failures_total', help: 'Failed witness pushes by reason.', labelNames: ['reason'], registers: [reg] });
    this.timer = setInterval(() => {
      const latest = this.o.log.latestCheckpoint();
      if (latest !== null && this.pending === null) this.offer(latest);
    }, options.intervalMs);
    this.timer.unref();
  }

  /** Queues a signed checkpoint for the witness (replacing any older one still waiting). */
  offer(note: string): void {
    if (this.closed) return;
    this.pending = note;
    this.pendingGauge.set(1);
    if (this.wake !== null) {
      const w = this.wake;
      this.wake = null;
      w();
    }
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
  }

  /** The note with the cosignatures held for it (same checkpoint text), else the note unchanged. */
  withCosignatures(note: string | null): string | null {
    if (note === null || this.held === null) return note;
    const split = note.lastIndexOf('\n\n');
    return split >= 0 && note.slice(0, split + 1) === this.held.text ? mergeSignatures(note, this.held.note) : note;
  }

  /** The newest cosigned note (tests, status). */
  cosigned(): string | null {
    return this.held?.note ?? null;
  }

  /** Tries to get what is queued cosigned within `deadlineMs`, then stops. Idempotent. */
  async close(deadlineMs = 2000): Promise<void> {
    clearInterval(this.timer);
    const running = this.running;
    if (running !== null) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((resolve) => (t = setTimeout(resolve, deadlineMs)))]);
      clearTimeout(t);
    }
    this.closed = true;
    this.wake?.();
    await this.pool?.destroy().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (this.pending !== null && !this.closed) {
      const note = this.pending;
      const ok = await this.pushOnce(note);
      if (ok) {
        this.attempt = 0;
        if (this.pending === note) {
          this.pending = null;
          this.pendingGauge.set(0);
        }
        continue;
      }
      if (this.pending === null) break;
      // Back off (full jitter, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/);
      // a newer checkpoint wakes the loop early.
      const min = this.o.backoff?.minMs ?? 1000;
      const max = this.o.backoff?.maxMs ?? 30_000;
      const delay = Math.min(max, min * 2 ** Math.min(this.attempt++, 16)) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        t.unref();
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** True when the checkpoint was cosigned or can never be (dropped); false: retry later. */
  private async pushOnce(note: string): Promise<boolean> {
    const split = note.lastIndexOf('\n\n');
    const text = note.slice(0, split + 1);
    const { size } = parseCheckpointBody(text);
    for (let round = 0; round < 3; round++) {
      const old = this.known > size ? 0 : this.known;
      let proof: Buffer[] = [];
      if (old !== 0 && old !== size) {
        try {
          proof = (await this.o.log.consistencyProof(old, size)).proof.map((h) => Buffer.from(h, 'base64'));
        } catch (err) {
          this.fail('proof', { old, size, err: (err as Error).message });
          this.known = 0;
          continue;
        }
      }
      let status: number;
      let body: string;
      let type: string;
      try {
        const url = new URL(`${this.o.url.replace(/\/$/, '')}/add-checkpoint`);
        this.pool ??= new Pool(url.origin);
        const res = await requestOn(this.pool, {
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          body: formatAddCheckpoint({ oldSize: old, proof, note }),
          headersTimeout: this.o.requestTimeoutMs ?? 10_000,
          bodyTimeout: this.o.requestTimeoutMs ?? 10_000,
        });
        status = res.statusCode;
        type = String(res.headers['content-type'] ?? '');
        body = await res.body.text();
      } catch (err) {
        this.fail('unreachable', { err: (err as Error).message });
        return false;
      }
      if (status === 200) {
        await this.keep(size, text, note, body);
        this.known = size;
        return true;
      }
      if (status === 409 && type.startsWith(TLOG_SIZE_CONTENT_TYPE)) {
        const theirs = parseSizeBody(body);
        if (theirs === undefined) return this.fail('bad_request', { status, body: body.slice(0, 100) }, true);
        if (theirs > size) {
          // The witness cosigned a larger tree of this log than the log now has.
          this.known = theirs;
          return this.fail('rolled_back', { witnessSize: theirs, size }, true);
        }
        if (theirs === old) return this.fail('conflict', { witnessSize: theirs, size }, true);
        this.known = theirs;
        continue;
      }
      if (status === 404) return this.fail('not_found', { status, body: body.slice(0, 200) });
      if (status >= 500) return this.fail('server_error', { status, body: body.slice(0, 200) });
      const reason: PushFailureReason = status === 403 ? 'forbidden' : status === 422 ? 'unprocessable' : status === 409 ? 'conflict' : 'bad_request';
      return this.fail(reason, { status, body: body.slice(0, 200) }, true);
    }
    return this.fail('conflict', { size }, true);
  }

  private fail(reason: PushFailureReason, details: Record<string, unknown>, final = false): boolean {
    this.failures.inc({ reason });
    this.o.logger.warn({ reason, ...details }, 'witness push failed');
    return final;
  }

  private async keep(size: number, text: string, note: string, response: string): Promise<void> {
    const lines = response.split('\n').filter((l) => l !== '');
    try {
      for (const l of lines) parseSignatureLine(l);
    } catch {
      this.fail('bad_request', { reason: 'malformed cosignature lines' });
      return;
    }
    const base = this.held !== null && this.held.text === text ? this.held.note : note;
    const merged = mergeSignatures(base, `${text}\n${lines.join('\n')}\n`);
    if (this.o.store !== false) {
      try {
        await writeFileAtomic(nodeLogFs, path.join(this.o.log.dir, CHECKPOINT_DIR, checkpointName(size)), merged);
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message, size }, 'could not store the cosigned checkpoint');
      }
    }
    this.held = { size, text, note: merged };
  }
}

/**
 * `base` with the signature lines of `extra` (same text) added; a line by a key (name and key ID)
 * `base` already has a line from is replaced, so each witness keeps its newest cosignature.
 */
export function mergeSignatures(base: string, extra: string): string {
  const a = splitNote(base);
  const b = splitNote(extra);
  const keyOf = (l: { name: string; keyId: number }): string => `${l.name}+${l.keyId}`;
  const replaced = new Set(b.lines.filter((l) => !a.lines.some((x) => x.line === l.line)).map(keyOf));
  const kept = a.lines.filter((l) => !replaced.has(keyOf(l)) || b.lines.some((x) => x.line === l.line));
  const lines = [...kept.map((l) => l.line), ...b.lines.filter((l) => !kept.some((x) => x.line === l.line)).map((l) => l.line)];
  return `${a.text}\n${lines.join('\n')}\n`;
}
