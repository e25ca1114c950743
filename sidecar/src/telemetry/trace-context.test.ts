import { describe, expect, it } from 'vitest';
import { extractIncomingContext, formatTraceparent, normalizeTraceId, parseTraceparent } from './trace-context.ts';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';

describe('parseTraceparent (W3C Trace Context)', () => {
  it.each([
    { name: 'the spec example, sampled', v: `00-${TID}-${SID}-01`, want: { traceId: TID, parentSpanId: SID, sampled: true } },
    { name: 'not sampled', v: `00-${TID}-${SID}-00`, want: { traceId: TID, parentSpanId: SID, sampled: false } },
    { name: 'other flag bits ignored', v: `00-${TID}-${SID}-03`, want: { traceId: TID, parentSpanId: SID, sampled: true } },
    { name: 'surrounding whitespace (OWS)', v: ` 00-${TID}-${SID}-01 `, want: { traceId: TID, parentSpanId: SID, sampled: true } },
    { name: 'a future version with extra fields', v: `01-${TID}-${SID}-01-future`, want: { traceId: TID, parentSpanId: SID, sampled: true } },
    { name: 'a future version, same length', v: `cc-${TID}-${SID}-01`, want: { traceId: TID, parentSpanId: SID, sampled: true } },
  ])('accepts $name', ({ v, want }) => {
    expect(parseTraceparent(v)).toEqual(want);
  });

  it.each([
    { name: 'missing', v: undefined },
    { name: 'empty', v: '' },
    { name: 'version ff', v: `ff-${TID}-${SID}-01` },
    { name: 'version 00 with extra fields', v: `00-${TID}-${SID}-01-extra` },
    { name: 'future version with junk glued on', v: `01-${TID}-${SID}-01x` },
    { name: 'upper-case hex', v: `00-${TID.toUpperCase()}-${SID}-01` },
    { name: 'all-zero trace id', v: `00-${'0'.repeat(32)}-${SID}-01` },
    { name: 'all-zero parent id', v: `00-${TID}-${'0'.repeat(16)}-01` },
    { name: 'short trace id', v: `00-${TID.slice(1)}-${SID}-01` },
    { name: 'bad separator', v: `00_${TID}-${SID}-01` },
    { name: 'non-hex flags', v: `00-${TID}-${SID}-0g` },
    { name: 'two headers joined by a comma', v: `00-${TID}-${SID}-01, 00-${TID}-${SID}-01` },
  ])('ignores $name', ({ v }) => {
    expect(parseTraceparent(v)).toBeNull();
  });

  it('formats version 00 with the sampled bit', () => {
    expect(formatTraceparent(TID, SID, true)).toBe(`00-${TID}-${SID}-01`);
    expect(parseTraceparent(formatTraceparent(TID, SID, false))).toEqual({ traceId: TID, parentSpanId: SID, sampled: false });
  });
});

describe('normalizeTraceId (X-Trace-ID)', () => {
  it.each([
    { v: TID.toUpperCase(), want: TID },
    { v: '4bf92f35-77b3-4da6-a3ce-929d0e0e4736', want: TID },
    { v: 'a3ce929d0e0e4736', want: '0000000000000000a3ce929d0e0e4736' },
    { v: '0'.repeat(32), want: null },
    { v: 'xyz', want: null },
    { v: TID + 'ab', want: null },
  ])('$v → $want', ({ v, want }) => {
    expect(normalizeTraceId(v)).toBe(want);
  });
});

describe('extractIncomingContext', () => {
  it('prefers a valid traceparent and forwards tracestate', () => {
    expect(extractIncomingContext({ traceparent: `00-${TID}-${SID}-01`, tracestate: 'a=1,b=2', 'x-trace-id': 'b'.repeat(32) })).toEqual({
      source: 'traceparent',
      traceId: TID,
      parentSpanId: SID,
      sampled: true,
      traceState: 'a=1,b=2',
    });
  });

  it('drops an oversized tracestate but keeps the traceparent', () => {
    const ctx = extractIncomingContext({ traceparent: `00-${TID}-${SID}-01`, tracestate: `a=${'x'.repeat(600)}` });
    expect(ctx).toEqual({ source: 'traceparent', traceId: TID, parentSpanId: SID, sampled: true });
  });

  it('falls back to X-Trace-ID when traceparent is invalid', () => {
    expect(extractIncomingContext({ traceparent: 'garbage', 'x-trace-id': TID, 'x-span-id': SID.toUpperCase(), 'x-parent-span-id': '1'.repeat(16) })).toEqual({
      source: 'x-trace-id',
      traceId: TID,
      spanId: SID,
      parentSpanId: '1'.repeat(16),
    });
  });

  it('ignores invalid X-Span-ID / X-Parent-Span-ID and a parent equal to the span itself', () => {
    expect(extractIncomingContext({ 'x-trace-id': TID, 'x-span-id': 'nope', 'x-parent-span-id': '0'.repeat(16) })).toEqual({ source: 'x-trace-id', traceId: TID });
    expect(extractIncomingContext({ 'x-trace-id': TID, 'x-span-id': SID, 'x-parent-span-id': SID })).toEqual({ source: 'x-trace-id', traceId: TID, spanId: SID });
  });

  it('returns null without usable headers', () => {
    expect(extractIncomingContext({})).toBeNull();
    expect(extractIncomingContext({ 'x-trace-id': 'not-an-id' })).toBeNull();
  });
});
