import type { KubeApi, ListOptions, PatchOptions, ReplaceOptions, RequestOptions, WatchOptions } from './types.ts';

/**
 * `api` with every request tied to `signal`: when it aborts, requests in flight are abandoned and
 * new ones fail at once. The leader's controllers run on such a view, so stepping down (the renew
 * deadline passed) also cuts off the writes they had started against a slow or hanging API server.
 */
export function fencedApi(api: KubeApi, signal: AbortSignal): KubeApi {
  const join = (s: AbortSignal | undefined): AbortSignal => (s === undefined ? signal : AbortSignal.any([signal, s]));
  const req = (o: RequestOptions | undefined): RequestOptions => ({ ...o, signal: join(o?.signal) });
  return {
    list: (resource, options?: ListOptions) => api.list(resource, { ...options, signal: join(options?.signal) }),
    watch: (resource, options: WatchOptions) => api.watch(resource, { ...options, signal: join(options.signal) }),
    get: (resource, namespace, name, options?: RequestOptions) => api.get(resource, namespace, name, req(options)),
    create: (resource, object, options?: RequestOptions) => api.create(resource, object, req(options)),
    replace: (resource, object, options?: ReplaceOptions) => api.replace(resource, object, { ...options, signal: join(options?.signal) }),
    patch: (resource, namespace, name, body, options: PatchOptions) => api.patch(resource, namespace, name, body, { ...options, signal: join(options.signal) }),
    delete: (resource, namespace, name, options?: RequestOptions) => api.delete(resource, namespace, name, req(options)),
    version: () => api.version(),
    hasApiGroup: (group) => api.hasApiGroup(group),
  };
}
