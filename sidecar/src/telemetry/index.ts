// Telemetry (docs/tracing.md): span classification, trace context and the OpenTelemetry tracer.
// Named exports only; main.ts builds the tracer with createTracer() and hands it to the proxy.
export type { ExchangeOutcome, ExchangeTracer, SpanType, TraceHandle, TraceIds, TraceRequestInfo } from './types.ts';
export { NOOP_TRACER } from './noop-tracer.ts';
export { classifyExchange, errorTypeOf, requestClass, type ClassifyInput } from './classify.ts';
export { createTracer, type CreateTracerOptions, type OtelTracer, type TelemetryConfig, type TracerLogger, type TracerResource } from './otel-tracer.ts';
export { deriveConversation, type ConversationIds } from './conversation.ts';
export { extractIncomingContext, formatTraceparent, parseTraceparent, type IncomingContext } from './trace-context.ts';
