import { randomBytes } from 'node:crypto';
import type { ExchangeTracer, TraceHandle, TraceRequestInfo } from './types.ts';

/** The tracer used when telemetry is off: ids are still assigned so entries link across systems. */
export const NOOP_TRACER: ExchangeTracer = {
  begin(_info: TraceRequestInfo): TraceHandle {
    return {
      ids: { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), conversationId: null, requestType: null },
      upstreamHeaders: {},
      inert: true,
      end() {},
    };
  },
  async close() {},
};
