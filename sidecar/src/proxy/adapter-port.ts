/**
 * The proxy's view of the protocol adapters (sidecar/src/adapters, pure functions): which API a
 * request speaks (detectApi, from method, path and the endpoint's configured family), and an
 * incremental adapter that turns its response into a NormalizedExchange.
 */
import { createAdapter, detectApi, type Adapter, type DetectedApi } from '../adapters/index.ts';
import type { ApiKind } from '../adapters/types.ts';

export interface ProxyAdapter extends Adapter {
  readonly kind: ApiKind;
}

export interface OpenAdapterInput {
  /** The endpoint's configured family ('auto' detects from the path). */
  endpointApi: string;
  method: string;
  /** Path as the API sees it (endpoint prefix stripped). */
  apiPath: string;
  contentType: string | undefined;
  /** The request body parsed as JSON; undefined when it is not JSON or was too large to parse. */
  body: unknown;
  /** Cap on a non-streamed response body the adapter keeps for parsing. */
  maxBodyBytes: number;
}

/**
 * detectApi is pure and a workload calls the same few paths over and over: its answers are kept
 * (a handful of regular expressions less before every forward). Bounded: when full, it starts over.
 */
const DETECTED_MAX = 512;
let detectedCache = new Map<string, Readonly<DetectedApi>>();

function detect(input: OpenAdapterInput): Readonly<DetectedApi> {
  const key = `${input.endpointApi}\n${input.method}\n${input.contentType ?? ''}\n${input.apiPath}`;
  let d = detectedCache.get(key);
  if (d === undefined) {
    d = Object.freeze(detectApi({ method: input.method, path: input.apiPath, endpointApi: input.endpointApi, contentType: input.contentType ?? null }));
    if (detectedCache.size >= DETECTED_MAX) detectedCache = new Map();
    detectedCache.set(key, d);
  }
  return d;
}

export function openAdapter(input: OpenAdapterInput): ProxyAdapter {
  const detected = detect(input);
  const adapter = createAdapter(detected.api, input.body, {
    provider: detected.provider,
    maxBodyBytes: input.maxBodyBytes,
    ...(detected.deployment === undefined ? {} : { defaultModel: detected.deployment }),
  });
  return Object.assign(adapter, { kind: adapter.api });
}
