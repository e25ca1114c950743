/**
 * Anything no family adapter understands (unknown paths, GET /models, multipart audio, a body
 * that is not JSON): recorded opaquely. The proxy keeps digest, size and status; the exchange
 * only says what can be read without understanding the API (a `model` field if there is one).
 */
import { baseExchange, requestSide, type AdapterOptions, type RequestSide } from './accumulator.ts';
import { asRecord, str } from './json-access.ts';
import type { NormalizedExchange } from './types.ts';

export function summarizeOpaqueRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  return requestSide('opaque', options.provider ?? 'unknown', 'unknown', { requestModel: str(req['model']), stream: req['stream'] === true });
}

/** `complete`: the transport delivered the whole body. */
export function opaqueExchange(requestBody: unknown, opts: { complete: boolean; chunks?: number }, options: AdapterOptions = {}): NormalizedExchange {
  const ex = baseExchange(summarizeOpaqueRequest(requestBody, options));
  ex.chunks = opts.chunks ?? 0;
  ex.complete = opts.complete;
  return ex;
}
