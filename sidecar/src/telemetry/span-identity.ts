/**
 * Which trace, span id and parent an exchange span gets (pure; docs/adr/0005-trace-derivation.md):
 *
 *   1. a valid W3C traceparent: its trace, a fresh span id, the caller's span as parent;
 *   2. else X-Trace-ID: that trace; X-Span-ID as our span id (the caller named this step) unless
 *      that id was already used, then a fresh id under it; X-Parent-Span-ID as parent;
 *   3. else the conversation: the derived trace id; the exchange that opens the conversation takes
 *      the derived root span id, every later turn is a child of it;
 *   4. else (no user message: embeddings, opaque traffic) a random trace with a root span.
 *
 * `alreadyUsed` guards against two spans with one id in a trace (a client that sets X-Span-ID
 * once as a default header, a retried opening request): the second gets a fresh id and the
 * first as its parent, so the tree stays valid.
 */
import type { IncomingContext } from './trace-context.ts';
import type { ConversationIds } from './conversation.ts';

export type TraceSource = 'traceparent' | 'x-trace-id' | 'conversation' | 'random';

export interface SpanIdentity {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** The caller's sampling decision when it sent one (traceparent), else undefined: our sampler decides. */
  parentSampled?: boolean;
  traceState?: string;
  source: TraceSource;
}

export interface IdentityInput {
  incoming: IncomingContext | null;
  conversation: ConversationIds | null;
  opensConversation: boolean;
  alreadyUsed: (traceId: string, spanId: string) => boolean;
  randomTraceId: () => string;
  randomSpanId: () => string;
}

export function chooseSpanIdentity(input: IdentityInput): SpanIdentity {
  const { incoming, conversation } = input;
  if (incoming?.source === 'traceparent') {
    return {
      traceId: incoming.traceId,
      spanId: input.randomSpanId(),
      parentSpanId: incoming.parentSpanId,
      parentSampled: incoming.sampled,
      ...(incoming.traceState === undefined ? {} : { traceState: incoming.traceState }),
      source: 'traceparent',
    };
  }
  if (incoming?.source === 'x-trace-id') {
    const { traceId, spanId, parentSpanId } = incoming;
    if (spanId !== undefined && input.alreadyUsed(traceId, spanId)) {
      return { traceId, spanId: input.randomSpanId(), parentSpanId: spanId, source: 'x-trace-id' };
    }
    return {
      traceId,
      spanId: spanId ?? input.randomSpanId(),
      ...(parentSpanId === undefined ? {} : { parentSpanId }),
      source: 'x-trace-id',
    };
  }
  if (conversation !== null) {
    const { traceId, rootSpanId } = conversation;
    if (input.opensConversation && !input.alreadyUsed(traceId, rootSpanId)) {
      return { traceId, spanId: rootSpanId, source: 'conversation' };
    }
    return { traceId, spanId: input.randomSpanId(), parentSpanId: rootSpanId, source: 'conversation' };
  }
  return { traceId: input.randomTraceId(), spanId: input.randomSpanId(), source: 'random' };
}
