/**
 * Bounded memory of recent tool calls (docs/tracing.md "Span types": TOOL_RESULT): when a later request carries the
 * result of a call, the tracer finds the TOOL_CALL span that asked for it and times the
 * execute_tool span from that exchange's end. Bounded by count (least recently inserted goes
 * first) and by age, so a sidecar in front of a busy agent never grows without limit; every
 * eviction is reported to `onEvict` (a counter in /metrics).
 *
 * A call is claimed once: chat APIs re-send the whole history on every turn, so the same tool
 * result arrives again and again, and only its first appearance is the moment the tool finished.
 *
 * Entries are keyed by trace and call id: ids synthesized for Ollama (position, name, arguments)
 * repeat across agent runs that make the same call, and each run must find its own. A lookup
 * from another trace (the app changed its traceparent between turns) falls back to the newest
 * call with that id.
 */

export interface RememberedCall {
  callId: string;
  name: string;
  traceId: string;
  /** The TOOL_CALL exchange span. */
  spanId: string;
  sampled: boolean;
  /** Epoch ms the TOOL_CALL exchange ended. */
  endedAt: number;
}

interface Slot extends RememberedCall {
  storedAt: number;
  claimed: boolean;
}

export type EvictionReason = 'capacity' | 'age';

export interface ToolCallMemoryOptions {
  maxEntries: number;
  maxAgeMs: number;
  onEvict?: (reason: EvictionReason) => void;
}

export class ToolCallMemory {
  // A Map iterates in insertion order: its first key is always the oldest entry.
  readonly #slots = new Map<string, Slot>();
  /** call id → key of the newest slot with that id. */
  readonly #newest = new Map<string, string>();
  #maxEntries: number;
  #maxAgeMs: number;
  readonly #onEvict: (reason: EvictionReason) => void;

  constructor(options: ToolCallMemoryOptions) {
    this.#maxEntries = options.maxEntries;
    this.#maxAgeMs = options.maxAgeMs;
    this.#onEvict = options.onEvict ?? (() => {});
  }

  get size(): number {
    return this.#slots.size;
  }

  resize(maxEntries: number, maxAgeMs: number): void {
    this.#maxEntries = maxEntries;
    this.#maxAgeMs = maxAgeMs;
    this.#trimToCapacity();
  }

  remember(call: RememberedCall, now: number): void {
    if (this.#maxEntries <= 0 || call.callId === '') return;
    this.#expire(now);
    const key = `${call.traceId}/${call.callId}`;
    this.#slots.delete(key); // a re-used id moves to the newest end
    this.#slots.set(key, { ...call, storedAt: now, claimed: false });
    this.#newest.set(call.callId, key);
    this.#trimToCapacity();
  }

  #find(callId: string, traceId: string): Slot | undefined {
    const own = this.#slots.get(`${traceId}/${callId}`);
    if (own !== undefined) return own;
    const key = this.#newest.get(callId);
    return key === undefined ? undefined : this.#slots.get(key);
  }

  /** The call with this id (in `traceId` if there is one there) if remembered and not yet claimed; claims it. */
  claim(callId: string, traceId: string, now: number): RememberedCall | undefined {
    this.#expire(now);
    const slot = this.#find(callId, traceId);
    if (slot === undefined || slot.claimed) return undefined;
    slot.claimed = true;
    return slot;
  }

  /**
   * The most recent unclaimed call named `name` in `traceId`; claims it. For APIs whose results
   * carry a tool name but no call id the client echoes back (Ollama's `tool_name`).
   */
  claimByName(name: string, traceId: string, now: number): RememberedCall | undefined {
    this.#expire(now);
    let found: Slot | undefined;
    for (const slot of this.#slots.values()) {
      if (!slot.claimed && slot.name === name && slot.traceId === traceId) found = slot;
    }
    if (found !== undefined) found.claimed = true;
    return found;
  }

  /** True when the id is remembered (claimed or not): a result we have already turned into a span. */
  has(callId: string, traceId: string): boolean {
    return this.#find(callId, traceId) !== undefined;
  }

  #expire(now: number): void {
    for (const [id, slot] of this.#slots) {
      if (now - slot.storedAt <= this.#maxAgeMs) break; // the rest are younger
      this.#forget(id, slot);
      this.#onEvict('age');
    }
  }

  #trimToCapacity(): void {
    while (this.#slots.size > Math.max(0, this.#maxEntries)) {
      const oldest = this.#slots.entries().next();
      if (oldest.done === true) return;
      this.#forget(oldest.value[0], oldest.value[1]);
      this.#onEvict('capacity');
    }
  }

  #forget(key: string, slot: Slot): void {
    this.#slots.delete(key);
    if (this.#newest.get(slot.callId) === key) this.#newest.delete(slot.callId);
  }
}
