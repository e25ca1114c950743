/**
 * Equality- and set-based label selectors, the subset the operator writes
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors):
 * `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated (AND). Used by the in-memory API.
 */
export function matchesLabelSelector(selector: string | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (selector === undefined || selector.trim() === '') return true;
  const l = labels ?? {};
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const ne = term.indexOf('!=');
    if (ne > 0) {
      if (l[term.slice(0, ne).trim()] === term.slice(ne + 2).trim()) return false;
      continue;
    }
    const eq = term.indexOf('=');
    if (eq > 0) {
      const key = term.slice(0, eq).trim();
      const value = term.slice(term[eq + 1] === '=' ? eq + 2 : eq + 1).trim();
      if (l[key] !== value) return false;
      continue;
    }
    if (term.startsWith('!')) {
      if (term.slice(1).trim() in l) return false;
      continue;
    }
    if (!(term in l)) return false;
  }
  return true;
}
