/**
 * What a V8 heap snapshot (`.heapsnapshot`, as `--heapsnapshot-signal` writes it) holds, in two
 * views: self size summed by constructor (DevTools' "Summary"), and the objects that retain the
 * most (their retained size: what would be freed with them, from the dominator tree, as DevTools'
 * "Retainers" / "Retained size" columns). Weak and shortcut edges do not retain.
 *
 * Used by `npm run bench -- proxy` for the sidecar at rest (docs/benchmarks.md).
 */

interface RawSnapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapSummary {
  /** Self size of every node (MiB). */
  totalMb: number;
  /** Self size summed per constructor (or node type, for strings, code and arrays), largest first. */
  byConstructor: Array<{ name: string; count: number; selfMb: number }>;
  /** The objects with the largest retained size that are not the snapshot's synthetic roots, largest first. */
  topRetainers: Array<{ name: string; retainedMb: number; selfMb: number }>;
}

const MiB = 1024 * 1024;
const r2 = (bytes: number) => Math.round((bytes / MiB) * 100) / 100;

export function summarizeHeapSnapshot(text: string, top = 12): HeapSummary {
  const s = JSON.parse(text) as RawSnapshot;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const NF = nf.length;
  const EF = ef.length;
  const T = nf.indexOf('type');
  const N = nf.indexOf('name');
  const SIZE = nf.indexOf('self_size');
  const EC = nf.indexOf('edge_count');
  const ET = ef.indexOf('type');
  const TO = ef.indexOf('to_node');
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const { nodes, edges, strings } = s;
  const count = nodes.length / NF;

  const typeOf = (i: number) => nodeTypes[nodes[i * NF + T] as number] ?? '?';
  const nameOf = (i: number) => strings[nodes[i * NF + N] as number] ?? '';
  const selfOf = (i: number) => nodes[i * NF + SIZE] as number;
  const label = (i: number) => {
    const t = typeOf(i);
    // Strings, code and V8's internal arrays are grouped by their kind; objects and closures by name.
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') return '(string)';
    if (t === 'code') return '(compiled code)';
    if (t === 'array') return `(array) ${nameOf(i)}`.trim();
    if (t === 'hidden' || t === 'object shape') return `(${t}) ${nameOf(i).split(' ')[0] ?? ''}`.trim();
    if (t === 'closure') return `closure ${nameOf(i) || '(anonymous)'}`;
    return nameOf(i).slice(0, 80) || `(${t})`;
  };

  // Edges of node i are the edge_count entries after those of nodes 0..i-1.
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = (firstEdge[i] as number) + (nodes[i * NF + EC] as number) * EF;
  const retains = (e: number) => edges[e + ET] !== weak && edges[e + ET] !== shortcut;

  // Reverse postorder from the root (node 0), then dominators (Cooper, Harvey, Kennedy: "A Simple, Fast Dominance Algorithm").
  const post = new Int32Array(count).fill(-1);
  const order: number[] = [];
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  const seen = new Uint8Array(count);
  seen[0] = 1;
  cursor[0] = firstEdge[0] as number;
  while (stack.length > 0) {
    const v = stack[stack.length - 1] as number;
    const end = firstEdge[v + 1] as number;
    let pushed = false;
    while ((cursor[v] as number) < end) {
      const e = cursor[v] as number;
      cursor[v] = e + EF;
      if (!retains(e)) continue;
      const w = (edges[e + TO] as number) / NF;
      if (seen[w] === 0) {
        seen[w] = 1;
        cursor[w] = firstEdge[w] as number;
        stack.push(w);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      stack.pop();
      post[v] = order.length;
      order.push(v);
    }
  }
  const preds: number[][] = Array.from({ length: count }, () => []);
  for (let v = 0; v < count; v++) {
    if (seen[v] === 0) continue;
    for (let e = firstEdge[v] as number; e < (firstEdge[v + 1] as number); e += EF) if (retains(e)) (preds[(edges[e + TO] as number) / NF] as number[]).push(v);
  }
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while ((post[a] as number) < (post[b] as number)) a = idom[a] as number;
      while ((post[b] as number) < (post[a] as number)) b = idom[b] as number;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = order.length - 1; k >= 0; k--) {
      const v = order[k] as number;
      if (v === 0) continue;
      let d = -1;
      for (const p of preds[v] as number[]) {
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== -1 && idom[v] !== d) {
        idom[v] = d;
        changed = true;
      }
    }
  }
  // Retained size: own size plus that of everything it dominates (children before parents in postorder).
  const retained = new Float64Array(count);
  for (const v of order) retained[v] = (retained[v] as number) + selfOf(v);
  for (const v of order) if (v !== 0) retained[idom[v] as number] = (retained[idom[v] as number] as number) + (retained[v] as number);

  let total = 0;
  const groups = new Map<string, { count: number; self: number }>();
  for (let i = 0; i < count; i++) {
    const size = selfOf(i);
    total += size;
    const g = groups.get(label(i)) ?? { count: 0, self: 0 };
    g.count++;
    g.self += size;
    groups.set(label(i), g);
  }
  // The synthetic nodes ((GC roots), its categories) and the global objects retain nearly
  // everything; what is worth knowing is one level down.
  const synthetic = (i: number) => typeOf(i) === 'synthetic' || i === 0 || /^(system \/ (NativeContext|Context)|Window|global)/.test(nameOf(i));
  const candidates: number[] = [];
  for (let i = 0; i < count; i++) if (seen[i] === 1 && !synthetic(i)) candidates.push(i);
  candidates.sort((a, b) => (retained[b] as number) - (retained[a] as number));
  return {
    totalMb: r2(total),
    byConstructor: [...groups].map(([name, g]) => ({ name, count: g.count, selfMb: r2(g.self) })).sort((a, b) => b.selfMb - a.selfMb).slice(0, top),
    topRetainers: candidates.slice(0, top).map((i) => ({ name: `${typeOf(i)} ${nameOf(i).replace(/\s+/g, ' ').slice(0, 70)}`, retainedMb: r2(retained[i] as number), selfMb: r2(selfOf(i)) })),
  };
}
