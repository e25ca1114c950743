/**
 * The one owner of the client's response. The upstream handler hands it the upstream's head and
 * bytes; the end of the exchange (record.ts) asks it to finish. It alone decides how the client's
 * response ends: relayed to its end, cut, held until the entry is appended, or replaced by the
 * proxy's own error answer.
 *
 * - The upstream's head is checked when it arrives (Node refuses header values it cannot send
 *   safely, RFC 9110 §5.5) but goes out with the first bytes of the body (a stream's on the next
 *   turn of the event loop). An upstream that fails before any byte reached the client (broken
 *   framing right after a 200 head, a reset) therefore gets the client a proper error answer
 *   rather than a closed connection with no HTTP response at all.
 * - Once bytes went out, a failure cuts the connection: what arrived is relayed, but the client
 *   never sees the response complete (a chunked response lacks its terminating chunk, a sized one
 *   its last bytes).
 * - holdEnd (strict durability, or a writer far behind): every chunk is held for one turn of the
 *   event loop; if the upstream's end arrives in the same read (undici parses a whole socket read
 *   at once, so the final frame and the end usually come together), that last chunk goes out
 *   with res.end() only after the entry is on disk. The response goes out chunked for that.
 */
import { validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { proxyError } from './errors.ts';
import { sendProxyError } from './respond.ts';

/** What the client was left with, as far as the entry is concerned. */
export type ClientEnding = 'relayed' | 'cut' | 'held' | 'answer';

/** The proxy's own answer, and the 503 that replaces it when the log is down and policy blocks. */
export interface ErrorAnswer {
  status: number;
  body: string;
  /** Sent instead when the append failed and onLogFailure is block (null: never replaced). */
  blocked: string | null;
}

export class ResponseFinisher {
  private pendingHead: { status: number; headers: OutgoingHttpHeaders } | null = null;
  private held: Buffer | null = null;
  private flushScheduled = false;
  /** A stream whose first bytes are not yet written: they are sent uncorked (see write). */
  private sendFirstNow = false;
  private waitingDrain = false;
  private stopped = false;
  private ending: ClientEnding | null = null;
  private pause: (() => void) | null = null;
  private resume: (() => void) | null = null;

  constructor(
    private readonly res: ServerResponse,
    /** Hold the end until the entry is appended: strict durability, or a writer that is behind. */
    readonly holdEnd: boolean,
  ) {}

  /** Backpressure: `pause` when the client's socket is full, `resume` on its 'drain'. */
  flow(pause: () => void, resume: () => void): void {
    this.pause = pause;
    this.resume = resume;
  }

  /** Bytes of the upstream's response (head included) reached the client's socket: only a cut can end it badly now. */
  get committed(): boolean {
    return this.res.headersSent;
  }

  /**
   * The upstream's head. Throws LLMAUDIT_E_UPSTREAM_BAD_RESPONSE when it cannot be relayed
   * safely; nothing was sent then. `flushSoon`: a stream, whose head goes out on the next turn
   * even when no data follows, so the client sees the response begin as soon as the upstream's did.
   */
  head(status: number, headers: OutgoingHttpHeaders, flushSoon: boolean): void {
    try {
      if (!Number.isInteger(status) || status < 200 || status > 999) throw new RangeError(`invalid status code ${status}`);
      for (const name of Object.keys(headers)) {
        validateHeaderName(name);
        const v = headers[name];
        if (Array.isArray(v)) for (const x of v) validateHeaderValue(name, x);
        else validateHeaderValue(name, v as string);
      }
    } catch (err) {
      throw proxyError('LLMAUDIT_E_UPSTREAM_BAD_RESPONSE', (err as Error).message, { cause: err });
    }
    this.pendingHead = { status, headers };
    if (flushSoon) {
      this.sendFirstNow = true;
      process.nextTick(this.flushHead);
    }
  }

  private readonly flushHead = (): void => {
    if (this.pendingHead === null || this.stopped || this.res.destroyed) return;
    this.sendHead();
    this.res.flushHeaders();
  };

  private sendHead(): void {
    const h = this.pendingHead;
    if (h === null) return;
    this.pendingHead = null;
    this.res.writeHead(h.status, h.headers);
  }

  /** One chunk of the upstream's body. */
  relay(chunk: Buffer): void {
    if (this.holdEnd) {
      if (this.held !== null) this.write(this.held);
      this.held = chunk;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushHeld);
      }
      return;
    }
    this.write(chunk);
  }

  private readonly flushHeld = (): void => {
    this.flushScheduled = false;
    if (this.stopped || this.held === null) return;
    const c = this.held;
    this.held = null;
    this.write(c);
  };

  private write(chunk: Buffer): void {
    if (this.res.destroyed) return;
    this.sendHead();
    const ok = this.res.write(chunk);
    if (this.sendFirstNow) {
      // A stream's head and first bytes leave now: Node corks the socket on a write until the end
      // of the tick, which would hold them behind the rest of the upstream's read (teed, queued
      // for the adapter) and whatever else the tick runs. Later chunks are corked as usual.
      this.sendFirstNow = false;
      this.res.socket?.uncork();
    }
    if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      this.pause?.();
      this.res.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.resume?.();
  };

  /** The upstream's side is over: nothing more is relayed (held bytes stay held for finish). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.waitingDrain) this.res.off('drain', this.onDrain);
  }

  /**
   * First step of the end, before the entry is built. `relayedOk`: the upstream's response was
   * relayed to its end (null: there was no upstream response to relay). Returns what the client
   * is left with: 'relayed' (ended now), 'cut' (a failure after bytes went out), 'held' (the end
   * waits for the append), 'answer' (the proxy answers itself after the append).
   */
  begin(relayedOk: boolean | null): ClientEnding {
    this.stop();
    if (relayedOk === false && this.committed) {
      const held = this.held;
      this.held = null;
      if (held !== null && !this.res.destroyed) this.res.write(held);
      this.res.destroy();
      this.ending = 'cut';
    } else if (relayedOk === true && !this.holdEnd) {
      this.endRelay();
      this.ending = 'relayed';
    } else if (relayedOk === true) this.ending = 'held';
    else {
      // Nothing of the upstream's response reached the client: it is dropped for the proxy's answer.
      this.pendingHead = null;
      this.held = null;
      this.ending = 'answer';
    }
    return this.ending;
  }

  private endRelay(): void {
    if (this.res.destroyed) return;
    this.sendHead();
    const held = this.held;
    this.held = null;
    if (held === null) this.res.end();
    else this.res.end(held);
  }

  /**
   * Last step, once the append settled. `appended`: the entry is on disk; `block`: it is not and
   * onLogFailure is block. Returns the status the client got.
   */
  complete(appended: boolean, block: boolean, status: number, answer: ErrorAnswer | null): number {
    if (this.ending === 'held') {
      if (block && !appended) this.res.destroy();
      else this.endRelay();
      return status;
    }
    if (this.ending === 'answer' && answer === null) {
      this.res.destroy(); // a client that went away (or half-closed mid-body): nothing to answer
      return status;
    }
    if (this.ending === 'answer' && answer !== null) {
      if (block && !appended && answer.blocked !== null) {
        sendProxyError(this.res, answer.blocked, 503);
        return 503;
      }
      sendProxyError(this.res, answer.body, answer.status);
      return answer.status;
    }
    return status;
  }
}
