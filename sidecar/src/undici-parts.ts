/**
 * The parts of undici the sidecar uses, loaded without undici's index: `Pool` (one per upstream
 * origin, and the witness's) and `request` called on a dispatcher. The index loads every
 * dispatcher, fetch, WebSocket, EventSource, the HTTP caches and the mocks, and puts the request
 * API on every dispatcher's prototype: ~7 MiB of every sidecar's RSS at rest for code it never
 * runs (docs/adr/0027). undici declares no `exports` map; these are the files its index itself
 * loads for them (lib/dispatcher/pool.js, lib/api/api-request.js), typed by undici's own types
 * (undici-lib.d.ts).
 */
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import PoolClass from 'undici/lib/dispatcher/pool.js';
import requestOnDispatcher from 'undici/lib/api/api-request.js';

export const Pool: typeof UndiciPool = PoolClass;

/** `dispatcher.request(options)` as undici's index defines it: the response once its headers arrive. */
export function requestOn(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return requestOnDispatcher.call(dispatcher, options);
}
