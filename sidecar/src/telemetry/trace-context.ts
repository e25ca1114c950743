/**
 * Incoming trace context (pure): W3C Trace Context `traceparent` / `tracestate`
 * (https://www.w3.org/TR/trace-context/, Level 1) and the explicit `X-Trace-ID` / `X-Span-ID` /
 * `X-Parent-Span-ID` headers agent frameworks without OpenTelemetry can set by hand. Anything
 * invalid is ignored as the spec asks ("traceparent" section: a header that fails to parse is
 * ignored), never an error: a bad
 * header must not fail an exchange.
 */

export type IncomingContext =
  | {
      source: 'traceparent';
      traceId: string;
      /** The caller's span: our exchange span becomes its child. */
      parentSpanId: string;
      sampled: boolean;
      /** Passed through unchanged when traceparent was valid (spec: "tracestate" is only read with a valid traceparent). */
      traceState?: string;
    }
  | {
      source: 'x-trace-id';
      traceId: string;
      /** The id the caller chose for this exchange's span, if any. */
      spanId?: string;
      parentSpanId?: string;
    };

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const HEX2 = /^[0-9a-f]{2}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

export function isValidTraceId(id: string): boolean {
  return HEX32.test(id) && id !== ZERO32;
}

export function isValidSpanId(id: string): boolean {
  return HEX16.test(id) && id !== ZERO16;
}

/**
 * Parses a traceparent header (spec section "traceparent Header"). Version 00 is exactly 55 characters. A higher version
 * (not ff) is parsed as 00 when its first 55 characters look like one and any rest starts with
 * "-" (section "Versioning of traceparent"). Upper-case hex is invalid (the fields are HEXDIGLC).
 */
export function parseTraceparent(value: string | undefined): { traceId: string; parentSpanId: string; sampled: boolean } | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (v.length < 55) return null;
  const version = v.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return null;
  if (version === '00' && v.length !== 55) return null;
  if (v.length > 55 && v[55] !== '-') return null;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return null;
  const traceId = v.slice(3, 35);
  const parentSpanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!isValidTraceId(traceId) || !isValidSpanId(parentSpanId) || !HEX2.test(flags)) return null;
  return { traceId, parentSpanId, sampled: (parseInt(flags, 16) & 0x01) === 1 };
}

/** traceparent for an outgoing request (version 00; flags carry only the sampled bit, section "trace-flags"). */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/**
 * tracestate is opaque to us: forward it unchanged, dropped only when it is longer than the
 * 512 characters vendors must at least propagate (section "tracestate Limits" lets us discard an
 * oversized one)
 * or when it could not be a list of key=value members.
 */
function cleanTraceState(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || v.length > 512 || !v.includes('=')) return undefined;
  return v;
}

/**
 * X-Trace-ID: 32 hex digits, a UUID with dashes (same 128 bits), or 16 hex digits (a 64-bit id,
 * left-padded with zeros as B3 and Jaeger do). Case-insensitive. Else null.
 */
export function normalizeTraceId(value: string | undefined): string | null {
  if (value === undefined) return null;
  let v = value.trim().toLowerCase();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v)) v = v.replaceAll('-', '');
  if (HEX16.test(v)) v = '0'.repeat(16) + v;
  return isValidTraceId(v) ? v : null;
}

export function normalizeSpanId(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim().toLowerCase();
  return isValidSpanId(v) ? v : null;
}

/**
 * Picks the incoming context: a valid traceparent wins; else a valid X-Trace-ID (with optional
 * X-Span-ID / X-Parent-Span-ID); else null (the tracer derives one from the conversation).
 * `headers` are lower-cased names.
 */
export function extractIncomingContext(headers: Readonly<Record<string, string | undefined>>): IncomingContext | null {
  const tp = parseTraceparent(headers['traceparent']);
  if (tp !== null) {
    const traceState = cleanTraceState(headers['tracestate']);
    return { source: 'traceparent', ...tp, ...(traceState === undefined ? {} : { traceState }) };
  }
  const traceId = normalizeTraceId(headers['x-trace-id']);
  if (traceId === null) return null;
  const spanId = normalizeSpanId(headers['x-span-id']);
  const parentSpanId = normalizeSpanId(headers['x-parent-span-id']);
  return {
    source: 'x-trace-id',
    traceId,
    ...(spanId === null ? {} : { spanId }),
    ...(parentSpanId === null || parentSpanId === spanId ? {} : { parentSpanId }),
  };
}
