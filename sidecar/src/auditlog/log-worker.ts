/**
 * The audit-log writer's thread (ADR 0010): opens the chain with openLog() and serves the
 * AuditLog handle of log-thread.ts over the port. Entries are canonicalized, hashed, signed and
 * written here, so the proxy's event loop only posts the payloads. Built as its own bundle entry
 * (sidecar/dist/log-worker.mjs, hack/build.mjs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openLog, type AuditLog, type InProcessLog } from './log-writer.ts';
import type { AppendResult, EntryPayload } from './types.ts';
import { isPayloadInvalid, logError } from './log-errors.ts';
import { degradePayload } from './degrade-entry.ts';
import { toWireError, type CallMethod, type FromWriter, type ThreadOpenOptions, type ToWriter, type WireAppended, type WriterState } from './log-thread-protocol.ts';

async function serve(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('log-worker.ts runs as a worker thread (log-thread.ts starts it)');
  const post = (m: FromWriter): void => port.postMessage(m);
  const options = workerData as ThreadOpenOptions;

  let log: InProcessLog;
  try {
    log = await openLog({
      ...options,
      // This thread does nothing but the log: its fdatasync may block it (ADR 0021).
      blockingSync: true,
      onBackgroundError: (err) => post({ t: 'background-error', error: toWireError(err) }),
      onCheckpoint: (checkpoint) => post({ t: 'checkpoint', checkpoint: { ...checkpoint } }),
    });
  } catch (err) {
    post({ t: 'open-failed', error: toWireError(err) });
    return;
  }
  const opened = log;
  const state = (): WriterState => {
    const s = opened.stats();
    return { size: s.size, segment: s.segment, bytesWritten: s.bytesWritten, syncs: s.syncs };
  };
  const latest = opened.latestCheckpoint();
  const cpStats = opened.stats().lastCheckpointAt;
  post({ t: 'opened', state: state(), checkpoint: latest === null ? null : { size: cpSize(latest), note: latest, at: cpStats ?? new Date().toISOString() } });

  // Outcomes of appends go back in batches: one message per batch the writer wrote (its appends
  // settle together, so a microtask queued by the first runs after the others), sent before this
  // thread takes in the messages that arrived meanwhile (ADR 0021).
  let results: WireAppended[] = [];
  let scheduled = false;
  const sendResults = (): void => {
    scheduled = false;
    if (results.length === 0) return;
    const r = results;
    results = [];
    post({ t: 'appended', results: r, state: state() });
  };
  const settled = (r: WireAppended): void => {
    results.push(r);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(sendResults);
    }
  };

  port.on('message', (m: ToWriter) => {
    if (m.t === 'append') {
      // Bodies that came as their JSON text are parsed here, on this thread (log-thread-protocol.ts PayloadSource).
      const unparsed = m.sources === undefined ? null : parseSources(m.payloads, m.sources);
      const sourced = m.sources === undefined ? null : new Set(m.sources.map((s) => s[0]));
      const payloads: Array<EntryPayload | undefined> = m.payloads;
      for (let i = 0; i < payloads.length; i++) {
        const id = m.first + i;
        const payload = payloads[i] as EntryPayload;
        // Each payload is let go once its entry is built: a young-generation collection during
        // the batch then copies only the payloads still to build, not the whole message.
        payloads[i] = undefined;
        const bad = unparsed?.get(i);
        if (bad !== undefined) {
          settled([id, toWireError(bad)]);
          continue;
        }
        if (options.degradeRefused === true && sourced?.has(i) !== true) appendOrDegrade(opened, id, payload, settled);
        else answer(opened.append(payload), id, null, settled);
      }
      return;
    }
    void call(opened, m.method, m.args).then(
      (value) => {
        sendResults(); // appends answered before the call that followed them
        post({ t: 'result', id: m.id, ok: true, value, state: state() });
      },
      (err: unknown) => {
        sendResults();
        post({ t: 'result', id: m.id, ok: false, error: toWireError(err), state: state() });
      },
    );
  });
}

/**
 * Appends a payload; if the log refuses to build it (LLMAUDIT_E_LOG_PAYLOAD_INVALID), its degraded
 * form, and if that is refused too, the degraded form without bodies (as proxy/log-gate.ts does
 * for a log that does not degrade). A build is refused in the same call (tryAppend), so an entry
 * that was built does not keep its payload while it is written.
 */
function appendOrDegrade(log: InProcessLog, id: number, payload: EntryPayload, settled: (r: WireAppended) => void): void {
  const first = log.tryAppend(payload);
  if (first instanceof Promise) return answer(first, id, null, settled);
  let refused = first.refused;
  const reason = (refused as Error).message;
  for (const withoutBodies of [false, true]) {
    if (!isPayloadInvalid(refused)) break;
    const r = log.tryAppend(degradePayload(payload, reason, withoutBodies));
    if (r instanceof Promise) return answer(r, id, [reason, withoutBodies], settled);
    refused = r.refused;
  }
  settled([id, toWireError(refused)]);
}

function answer(r: Promise<AppendResult>, id: number, degraded: [reason: string, withoutBodies: boolean] | null, settled: (r: WireAppended) => void): void {
  r.then(
    (a) => settled(degraded === null ? [id, a.seq, a.hash, a.ts] : [id, a.seq, a.hash, a.ts, degraded[0], degraded[1]]),
    (err: unknown) => settled([id, toWireError(err)]),
  );
}

/** Puts each source's JSON.parse in its payload's `request.body`; the errors of those that do not parse, by index. */
function parseSources(payloads: EntryPayload[], sources: Array<[number, ArrayBuffer]>): Map<number, unknown> | null {
  let bad: Map<number, unknown> | null = null;
  for (const [i, text] of sources) {
    const p = payloads[i];
    if (p === undefined) continue;
    try {
      p.request.body = JSON.parse(Buffer.from(text).toString('utf8')) as unknown;
    } catch (err) {
      // Not what the handle promised (log-thread.ts only sends text it parsed): refused as a payload,
      // which the proxy answers by writing the entry again (log-gate.ts), then with the value cloned.
      (bad ??= new Map()).set(i, logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', `request.body sent as text does not parse: ${(err as Error).message}`));
    }
  }
  return bad;
}

function cpSize(note: string): number {
  return Number(note.split('\n')[1]);
}

function call(log: AuditLog, method: CallMethod, args: unknown[]): Promise<unknown> {
  switch (method) {
    case 'flush':
      return log.flush();
    case 'checkpoint':
      return log.checkpoint();
    case 'seal':
      return log.seal();
    case 'inclusionProof':
      return log.inclusionProof(args[0] as number);
    case 'consistencyProof':
      return args[1] === undefined ? log.consistencyProof(args[0] as number) : log.consistencyProof(args[0] as number, args[1] as number);
    case 'close':
      return log.close();
  }
}

void serve();
