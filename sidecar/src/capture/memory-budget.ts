/**
 * One memory budget for everything the proxy buffers or decodes across all in-flight exchanges
 * (`capture.memoryBudgetBytes`, docs/configuration.md "Memory budget"). Without it, 20 concurrent
 * 8 MiB prompts or gzip bombs each inflating to `capture.maxDecodedBytes` add up past the
 * container's memory limit and an OOM kill loses every exchange in flight.
 *
 * - A request body the proxy would read before forwarding (to parse it) is admitted with a charge
 *   of PARSE_FACTOR times its size (Content-Length, or the parse limit when unknown): the bytes,
 *   their text, the parsed value and the entry's canonical text all live at once. Not admitted: the body streams through to
 *   the upstream as it arrives and is recorded digest-only, `omittedReason: "memory_budget"`.
 * - A decode (gzip, br, deflate) may only inflate to what the budget has left, never past
 *   `capture.maxDecodedBytes`; with nothing left it does not run (digest-only, same reason).
 * A request's charge is returned when its entry has been written (or refused); a decode's when
 * the decode ends.
 */

/** Memory a parsed body holds per byte of it at once: the bytes, their text, the parsed value, the entry. */
export const PARSE_FACTOR = 4;

export class MemoryBudget {
  private usedBytes = 0;

  /** `limit`: read at each decision, so a config reload applies at once; 0 means unlimited. */
  constructor(private readonly limit: () => number) {}

  get used(): number {
    return this.usedBytes;
  }

  /** Takes `n` bytes if they fit (always, when the budget is off). */
  take(n: number): boolean {
    const max = this.limit();
    if (max > 0 && this.usedBytes + n > max) return false;
    this.usedBytes += n;
    return true;
  }

  /** Takes as much of `n` as is left (0 when nothing is; all of it when the budget is off). */
  takeUpTo(n: number): number {
    const max = this.limit();
    const got = max > 0 ? Math.max(0, Math.min(n, max - this.usedBytes)) : n;
    this.usedBytes += got;
    return got;
  }

  give(n: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - n);
  }

  /**
   * Admission of one request body for reading before forwarding: how much may be buffered
   * (`limit`, or 0: stream it through) and the charge to give back when the entry is written.
   * No Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3), nothing charged. A body
   * of unknown length (chunked) may be read ahead only up to an eighth of the budget, so one such
   * request cannot hold all of it.
   */
  admitRequest(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }, limit: number): RequestGrant {
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'] === undefined ? Number.NaN : Number(headers['content-length']);
    const max = this.limit();
    let size: number;
    if (te === undefined && Number.isFinite(cl) && cl >= 0) size = Math.min(cl, limit);
    else if (te === undefined) size = 0;
    else size = max > 0 ? Math.min(limit, Math.floor(max / (8 * PARSE_FACTOR))) : limit;
    if (size === 0) return new RequestGrant(this, te === undefined ? limit : 0, 0, te !== undefined);
    const charge = size * PARSE_FACTOR;
    return this.take(charge) ? new RequestGrant(this, size, charge) : new RequestGrant(this, 0, 0, true);
  }
}

export class RequestGrant {
  private released = false;
  /** Set when the budget stopped the decode of the (compressed) request body. */
  decodeRefused = false;
  constructor(
    private readonly budget: MemoryBudget,
    /** Bytes the body may be read to before it is forwarded (0: streamed through at once). */
    readonly limit: number,
    private readonly charge: number,
    /** True when the budget refused the body: it is recorded digest-only. */
    readonly refused = false,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.charge);
  }
}
