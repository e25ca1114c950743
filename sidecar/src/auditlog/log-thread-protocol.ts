/**
 * The messages between an AuditLog handle (log-thread.ts, on the proxy's event loop) and the
 * writer running on its own thread (log-worker.ts). Everything travels by structured clone over
 * the worker's port, in order: an append posted before a call is seen by the writer before it.
 * A large JSON request body travels as its bytes instead (docs/adr/0025-large-bodies-off-the-event-loop.md):
 * the payload's `request.body` is posted as null, its UTF-8 text goes in `sources` as a transferred
 * ArrayBuffer, and the writer puts `JSON.parse` of that text back before building the entry.
 */
import { LlmauditError } from '../errors.ts';
import type { EntryPayload } from './types.ts';
import type { OpenLogOptions } from './log-writer.ts';

/** What the thread opens the log with (workerData): the cloneable part of OpenLogOptions. */
export type ThreadOpenOptions = Pick<OpenLogOptions, 'dir' | 'origin' | 'durability' | 'signEntries' | 'segmentMaxBytes' | 'segmentMaxAgeMs' | 'checkpointIntervalMs' | 'syncIntervalMs'> & {
  /** Signer key text (signed-note PRIVATE+KEY+...). */
  signerKey: string;
  /**
   * A payload the log refuses to build (LLMAUDIT_E_LOG_PAYLOAD_INVALID) is written in its degraded
   * form where it is refused (degrade-entry.ts; without its bodies if that is refused too), and the
   * append answers with `degraded` set, so the caller need not keep the payload for a retry. A
   * payload sent with a PayloadSource is not degraded here: its caller keeps it.
   */
  degradeRefused?: boolean;
};

export type CallMethod = 'flush' | 'checkpoint' | 'seal' | 'inclusionProof' | 'consistencyProof' | 'close';

export interface WireError {
  code: string;
  message: string;
  exit: number;
  details?: Record<string, unknown>;
}

/** The writer's counters, sent with every answer so `size` and `stats()` answer synchronously. */
export interface WriterState {
  size: number;
  segment: number;
  bytesWritten: number;
  syncs: number;
}

export interface WireCheckpoint {
  size: number;
  note: string;
  at: string;
}

/**
 * What an append may say about its payload's values: `requestBody` is the UTF-8 JSON text of which
 * `payload.request.body` is exactly the JSON.parse (valid UTF-8, and a value that round-trips:
 * capture/stored-body.ts). The thread log then sends these bytes, not the parsed value.
 */
export interface PayloadSource {
  requestBody: Uint8Array;
}

/** Request bodies at least this large (bytes) go to the writer as their text (PayloadSource); smaller ones are cloned. */
export const SOURCE_MIN_BYTES = 128 * 1024;

export type ToWriter =
  /**
   * Appends with consecutive ids `first`, `first + 1`, ... in call order. `sources`: for the
   * payload at `index` in `payloads`, whose `request.body` was posted as null, the UTF-8 JSON text
   * of that body (a transferred ArrayBuffer); the writer sets `request.body` to its JSON.parse.
   */
  | { t: 'append'; first: number; payloads: EntryPayload[]; sources?: Array<[index: number, text: ArrayBuffer]> }
  | { t: 'call'; id: number; method: CallMethod; args: unknown[] };

/**
 * An append's outcome: [id, seq, hash, ts], [id, seq, hash, ts, reason, withoutBodies] when the
 * degraded form was written (degradeRefused), or [id, error].
 */
export type WireAppended = [number, number, string, string] | [number, number, string, string, string, boolean] | [number, WireError];

export type FromWriter =
  | { t: 'opened'; state: WriterState; checkpoint: WireCheckpoint | null }
  | { t: 'open-failed'; error: WireError }
  | { t: 'appended'; results: WireAppended[]; state: WriterState }
  | { t: 'result'; id: number; ok: true; value: unknown; state: WriterState }
  | { t: 'result'; id: number; ok: false; error: WireError; state: WriterState }
  | { t: 'checkpoint'; checkpoint: WireCheckpoint }
  | { t: 'background-error'; error: WireError };

export function toWireError(err: unknown): WireError {
  if (err instanceof LlmauditError) {
    return { code: err.code, message: err.message, exit: err.exitCode, ...(err.details === undefined ? {} : { details: { ...err.details } }) };
  }
  return { code: 'LLMAUDIT_E_INTERNAL', message: `the audit log writer thread failed: ${err instanceof Error ? err.message : String(err)}`, exit: 1 };
}

export function fromWireError(e: WireError): LlmauditError {
  return new LlmauditError(e.code, e.message, { exit: e.exit, ...(e.details === undefined ? {} : { details: e.details }) });
}
