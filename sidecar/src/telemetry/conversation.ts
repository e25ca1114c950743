/**
 * Conversation-derived ids (docs/adr/0005-trace-derivation.md). An agent run re-sends the same
 * system prompt and first user message on every turn, so hashing the two gives every turn of one
 * run the same id without any client change:
 *
 *   h = SHA-256( "llmaudit/conversation/v1\n" || JSON.stringify([system ?? null, firstUser]) )
 *   conversationId = traceId = hex(h[0..16])   (if all zero: last byte set to 1)
 *   rootSpanId               = hex(h[16..24])  (if all zero: last byte set to 1)
 *
 * The prefix separates this use of SHA-256 from every other one (the audit log hashes entries);
 * JSON of an array of strings is a canonical, unambiguous encoding of the pair (no separator
 * can be forged by a prompt). `rootSpanId` is the span id the opening exchange takes, so later
 * turns can name it as their parent without remembering anything.
 */
import { createHash } from 'node:crypto';

export const CONVERSATION_DOMAIN = 'llmaudit/conversation/v1\n';

export interface ConversationIds {
  conversationId: string;
  traceId: string;
  rootSpanId: string;
}

function nonZero(bytes: Buffer): string {
  if (bytes.every((b) => b === 0)) bytes[bytes.length - 1] = 1; // W3C: all-zero ids are invalid
  return bytes.toString('hex');
}

/** Null when there is no first user message to anchor a conversation (embeddings, opaque). */
export function deriveConversation(system: string | null, firstUser: string | null): ConversationIds | null {
  if (firstUser === null) return null;
  const h = createHash('sha256').update(CONVERSATION_DOMAIN).update(JSON.stringify([system, firstUser])).digest();
  const traceId = nonZero(h.subarray(0, 16));
  return { conversationId: traceId, traceId, rootSpanId: nonZero(h.subarray(16, 24)) };
}

/** Characters of a prompt encoded and hashed in one turn of the event loop by deriveConversationInTurns. */
export const CONVERSATION_SLICE_CHARS = 64 * 1024;

/**
 * deriveConversation over `nextTurn`s, for prompts of megabytes: the JSON encoding and the SHA-256
 * (~5 ms for a 1 MiB message of accented text) go a slice of each string per turn. The hash input
 * is the same bytes: JSON.stringify of an array is its elements' encodings between brackets and
 * commas, a string's encoding is its slices' encodings end to end when no slice ends between the
 * two halves of a surrogate pair (a lone half is escaped the same either way), and UTF-8 likewise.
 */
export async function deriveConversationInTurns(system: string | null, firstUser: string | null, nextTurn: () => Promise<void>, sliceChars = CONVERSATION_SLICE_CHARS): Promise<ConversationIds | null> {
  if (firstUser === null) return null;
  const h = createHash('sha256').update(CONVERSATION_DOMAIN).update('[');
  const encode = async (s: string | null): Promise<void> => {
    if (s === null) {
      h.update('null');
      return;
    }
    h.update('"');
    for (let at = 0; at < s.length; ) {
      let cut = Math.min(s.length, at + sliceChars);
      const hi = s.charCodeAt(cut - 1);
      const lo = s.charCodeAt(cut);
      // Not between the halves of a pair: before it, or after it when it is all the slice holds.
      if (hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) cut += cut - 1 > at ? -1 : 1;
      h.update(JSON.stringify(s.slice(at, cut)).slice(1, -1));
      at = cut;
      if (at < s.length) await nextTurn();
    }
    h.update('"');
  };
  await encode(system);
  h.update(',');
  await encode(firstUser);
  const d = h.update(']').digest();
  const traceId = nonZero(d.subarray(0, 16));
  return { conversationId: traceId, traceId, rootSpanId: nonZero(d.subarray(16, 24)) };
}

export interface ConversationCache {
  (system: string | null, firstUser: string | null): ConversationIds | null;
  /**
   * Derives the pair's ids in turns (deriveConversationInTurns) when they are not held yet and
   * either string is longer than a slice, and holds them: the call that follows answers at once.
   */
  prepare(system: string | null, firstUser: string | null, nextTurn: () => Promise<void>): Promise<void>;
}

/**
 * deriveConversation with memory: every turn of an agent run re-sends the same pair, so the
 * hash (JSON encoding plus SHA-256 over a system prompt that can be tens of kilobytes) is done
 * once per conversation instead of once per request. Keyed by system prompt, then first user
 * message — two lookups on the strings themselves, no joined key to build. Bounded: when
 * `maxEntries` pairs are held, the memory starts over (a re-hash is the only cost).
 */
export function createConversationCache(maxEntries = 4096, sliceChars = CONVERSATION_SLICE_CHARS): ConversationCache {
  let bySystem = new Map<string | null, Map<string, ConversationIds>>();
  let size = 0;
  const held = (system: string | null, firstUser: string): ConversationIds | undefined => bySystem.get(system)?.get(firstUser);
  const hold = (system: string | null, firstUser: string, ids: ConversationIds): void => {
    let byUser = bySystem.get(system);
    if (size >= maxEntries) {
      bySystem = new Map();
      size = 0;
      byUser = undefined;
    }
    if (byUser === undefined) {
      byUser = new Map();
      bySystem.set(system, byUser);
    }
    byUser.set(firstUser, ids);
    size++;
  };
  const cached = (system: string | null, firstUser: string | null): ConversationIds | null => {
    if (firstUser === null) return null;
    const hit = held(system, firstUser);
    if (hit !== undefined) return hit;
    const ids = deriveConversation(system, firstUser) as ConversationIds;
    hold(system, firstUser, ids);
    return ids;
  };
  cached.prepare = async (system: string | null, firstUser: string | null, nextTurn: () => Promise<void>): Promise<void> => {
    if (firstUser === null || (firstUser.length <= sliceChars && (system?.length ?? 0) <= sliceChars) || held(system, firstUser) !== undefined) return;
    const ids = (await deriveConversationInTurns(system, firstUser, nextTurn, sliceChars)) as ConversationIds;
    if (held(system, firstUser) === undefined) hold(system, firstUser, ids);
  };
  return cached;
}
