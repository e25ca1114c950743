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

/**
 * deriveConversation with memory: every turn of an agent run re-sends the same pair, so the
 * hash (JSON encoding plus SHA-256 over a system prompt that can be tens of kilobytes) is done
 * once per conversation instead of once per request. Keyed by system prompt, then first user
 * message — two lookups on the strings themselves, no joined key to build. Bounded: when
 * `maxEntries` pairs are held, the memory starts over (a re-hash is the only cost).
 */
export function createConversationCache(maxEntries = 4096): (system: string | null, firstUser: string | null) => ConversationIds | null {
  let bySystem = new Map<string | null, Map<string, ConversationIds>>();
  let size = 0;
  return (system, firstUser) => {
    if (firstUser === null) return null;
    let byUser = bySystem.get(system);
    const hit = byUser?.get(firstUser);
    if (hit !== undefined) return hit;
    const ids = deriveConversation(system, firstUser) as ConversationIds;
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
    return ids;
  };
}
