import { readFileSync } from 'node:fs';
import { RESOURCES } from '../kube/resources.ts';
import type { KubeApi } from '../kube/types.ts';

const VERB: Record<string, string> = { list: 'list', watch: 'watch', get: 'get', create: 'create', replace: 'update', patch: 'patch', delete: 'delete' };

/**
 * Wraps a KubeApi and records every (verb, group/resource[/subresource]) it is asked for, as an
 * RBAC authorizer would see it. Test-only: operator.test.ts checks the set against CONTRACT.md.
 */
export function recordRbac(api: KubeApi): { api: KubeApi; used: Set<string> } {
  const used = new Set<string>();
  const wrapped = new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string' || VERB[prop] === undefined) return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) => {
        const resource = args[0] as keyof typeof RESOURCES;
        const opts = args[prop === 'replace' ? 2 : 4] as { subresource?: string } | undefined;
        const sub = opts?.subresource === undefined ? '' : `/${opts.subresource}`;
        used.add(`${VERB[prop]} ${RESOURCES[resource].group}/${resource}${sub}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { api: wrapped, used };
}

/** The (verb, group/resource) pairs operator/CONTRACT.md grants. */
export function contractGrants(contractPath: string): Set<string> {
  const text = readFileSync(contractPath, 'utf8');
  const section = text.slice(text.indexOf('## RBAC the operator uses'), text.indexOf('Notes: all replicas'));
  const out = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('  ') || line.includes('nonResourceURLs')) continue;
    const [group, resources, rest] = line.trim().split(/\s{2,}/);
    if (group === undefined || resources === undefined || rest === undefined) continue;
    const g = group.startsWith('""') ? '' : group;
    const verbs = rest.split('(')[0]?.trim().split(/\s+/) ?? [];
    for (const r of resources.split(',').map((x) => x.trim())) for (const v of verbs) out.add(`${v} ${g}/${r}`);
  }
  return out;
}
