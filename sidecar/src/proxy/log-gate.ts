/**
 * The traffic gate of `onLogFailure: block`, and the one way the proxy appends an entry.
 *
 * A payload problem is not a log outage: an entry the log refuses to build
 * (LLMAUDIT_E_LOG_PAYLOAD_INVALID) is written again in its degraded form (auditlog/degrade-entry.ts),
 * counted in llmaudit_log_degraded_entries_total, and the gate stays open. Only an append that
 * fails to reach the disk (full, read-only, I/O) closes the gate.
 *
 * A closed gate reopens by itself: while it is closed a probe runs every `probeIntervalMs` —
 * a 4 KiB file written, fdatasynced and removed in the chain directory — and the first probe that
 * succeeds opens the gate (and /readyz) without waiting for traffic. An append that lands opens it
 * too. A writer that stopped for good (LLMAUDIT_E_LOG_FAILED, LLMAUDIT_E_LOG_CLOSED) is not probed:
 * only a successful append (after a restart) opens the gate then.
 */
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AppendResult, EntryPayload } from '../auditlog/types.ts';
import type { AuditSink } from './sink.ts';
import type { PayloadSource } from '../auditlog/log-thread-protocol.ts';
import type { ProxyMetrics } from './metrics.ts';
import { degradePayload } from '../auditlog/degrade-entry.ts';
import { isPayloadInvalid } from '../auditlog/log-errors.ts';
import { describeError } from './upstream-errors.ts';

const PROBE_BYTES = 4096;
/** Failures no probe can cure: the writer itself is gone. */
const PERMANENT = new Set(['LLMAUDIT_E_LOG_FAILED', 'LLMAUDIT_E_LOG_CLOSED']);

/** Writes, fdatasyncs and removes a small file in `dir`: rejects while the volume is full or read-only. */
export async function probeWritable(dir: string): Promise<void> {
  const file = path.join(dir, `.probe-${process.pid}`);
  const fh = await open(file, 'w', 0o600);
  try {
    await fh.write(Buffer.alloc(PROBE_BYTES, 0x0a));
    await fh.datasync();
  } finally {
    await fh.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
  }
}

export interface LogGateOptions {
  /** Checks that the log can be written again; null: only a successful append opens the gate. */
  probe: (() => Promise<void>) | null;
  logger: Logger;
  probeIntervalMs?: number;
}

export class LogGate {
  private closed = false;
  private lastCode: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly o: LogGateOptions) {
    this.intervalMs = o.probeIntervalMs ?? 1000;
  }

  /** True while appends fail for want of a writable log. */
  get down(): boolean {
    return this.closed;
  }

  set down(v: boolean) {
    if (v === this.closed) return;
    this.closed = v;
    if (v) this.startProbe();
    else this.stopProbe();
  }

  /** The code of the failure that closed the gate (a writer that stopped for good is not probed). */
  noteFailure(code: string | null): void {
    this.lastCode = code;
    if (code !== null && PERMANENT.has(code)) this.stopProbe();
  }

  /** Stops probing for good (the proxy is closing). */
  close(): void {
    this.stopped = true;
    this.stopProbe();
  }

  private startProbe(): void {
    if (this.o.probe === null || this.timer !== null || this.stopped) return;
    this.timer = setInterval(() => void this.runProbe(), this.intervalMs);
    this.timer.unref();
  }

  private stopProbe(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async runProbe(): Promise<void> {
    const probe = this.o.probe;
    if (this.probing || probe === null || !this.closed || (this.lastCode !== null && PERMANENT.has(this.lastCode))) return;
    this.probing = true;
    try {
      await probe();
      if (this.closed && !this.stopped) {
        this.o.logger.warn({ after: this.lastCode }, 'audit log writable again: traffic gate reopened');
        this.down = false;
      }
    } catch {
      // Still not writable: the next tick tries again.
    } finally {
      this.probing = false;
    }
  }
}

export interface AppendDeps {
  sink: AuditSink;
  metrics: ProxyMetrics;
  logger: Logger;
  logState: { down: boolean };
}

const codeOf = (err: unknown): string | null => {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : null;
};

/**
 * Appends `payload` (with the text of its request body when `source` is given: the sink may send
 * that instead of the parsed value); when the log refuses to build it, appends its degraded form
 * instead (and, if even that is refused, the degraded form without bodies), without the source. Rejects only when the log cannot be
 * written, which is what closes the gate; the failure's code is noted on the gate. A sink that
 * degrades refused payloads itself (`degradesRefused`) is left to do so for a payload without a
 * source, and its result says when it did.
 */
export function appendEntry(deps: AppendDeps, payload: EntryPayload, source?: PayloadSource): Promise<AppendResult> {
  if (deps.sink.degradesRefused === true && source === undefined) {
    // The sink degrades a refused payload where it is refused: only the id is kept here, not the
    // payload, while the entry travels (docs/adr/0018-sidecar-cost-per-exchange.md, decision 19).
    const id = payload.id;
    return deps.sink.append(payload).then(
      (r) => {
        if (r.degraded !== undefined) noteDegraded(deps, id, r.degraded);
        return r;
      },
      (err: unknown) => {
        throw noted(deps, err);
      },
    );
  }
  return appendOrRetry(deps, payload, source);
}

function noteDegraded(deps: AppendDeps, id: string, d: NonNullable<AppendResult['degraded']>): void {
  noteRefused(deps, id);
  if (d.withoutBodies) noteBodiesDropped(deps, id, d.reason);
}

/** A payload the log refused as built: counted, and its degraded form is what is written. */
function noteRefused(deps: AppendDeps, id: string): void {
  deps.metrics.degradedEntries.inc();
  deps.logger.warn({ id, code: 'LLMAUDIT_E_ENTRY_DEGRADED' }, 'entry could not be written as built; writing its degraded form');
}

function noteBodiesDropped(deps: AppendDeps, id: string, err: string): void {
  deps.logger.error({ id, err }, 'degraded entry refused too; writing it without bodies');
}

async function appendOrRetry(deps: AppendDeps, payload: EntryPayload, source?: PayloadSource): Promise<AppendResult> {
  try {
    return await deps.sink.append(payload, source);
  } catch (err) {
    if (!isPayloadInvalid(err)) throw noted(deps, err);
    const reason = (err as Error).message;
    noteRefused(deps, payload.id);
    try {
      return await deps.sink.append(degradePayload(payload, reason));
    } catch (again) {
      if (!isPayloadInvalid(again)) throw noted(deps, again);
      noteBodiesDropped(deps, payload.id, describeError(again));
      return await deps.sink.append(degradePayload(payload, reason, true)).catch((e: unknown) => {
        throw noted(deps, e);
      });
    }
  }
}

function noted(deps: AppendDeps, err: unknown): unknown {
  if (deps.logState instanceof LogGate) deps.logState.noteFailure(codeOf(err));
  return err;
}
