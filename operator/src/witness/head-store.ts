// Witnessed heads in the Kubernetes API with optimistic concurrency (docs/adr/0016-witnessed-heads-configmap.md).
//
// C2SP tlog-witness: "checking the old size against the latest checkpoint and persisting the new
// checkpoint must be performed atomically". Every replica answers add-checkpoint, so the atomic
// step is the API server's: a PUT of the policy's heads ConfigMap with the resourceVersion it was
// read at. A conflict (another replica wrote first) re-reads and decides every request again; a
// request is answered only after the write that holds its new head succeeded, so no replica ever
// cosigns a head another one did not see (never two different heads for one size).
//
// Requests for one policy that arrive while a write is in flight are decided together against the
// same heads and written in one PUT (group commit): the write rate is that of the batches, not of
// the pushes, and pushes of one origin in one batch are decided in arrival order.
import type { AuditPolicy } from '../api/audit-policy.ts';
import { LABEL_POLICY } from '../api/names.ts';
import { MANAGED_BY, ownerReference } from '../controllers/policy-decision.ts';
import { isConflict } from '../kube/api-error.ts';
import type { Cosigner } from '@llmaudit/sidecar/auditlog';
import type { KubeApi, KubeObject } from '../kube/types.ts';
import { HEADS_KEY, LABEL_HEADS, formatHeads, headsConfigMapName, readHeads, type Heads } from './heads.ts';
import { decideAddCheckpoint, type WitnessInputs, type WitnessOutcome } from './witness-core.ts';

/** A ConfigMap holds at most 1 MiB (etcd's request limit); stay clear of it. */
export const MAX_HEADS_BYTES = 900 * 1024;
/** Conflicts in a row before a batch is answered 503 (the sidecars retry); replicas back off at random in between. */
const MAX_ATTEMPTS = 20;

export interface HeadStoreDeps {
  api: KubeApi;
  /** Signs the cosignature stored with each new head; it is returned only once the write holding it succeeded. */
  cosigner: Cosigner;
  now?: () => Date;
  /** Requests decided and written together at most (default: all that wait). 1: a write per push (the benchmark's baseline). */
  maxBatch?: number;
}

interface Pending {
  body: Uint8Array;
  verifier: WitnessInputs['verifier'];
  resolve: (o: WitnessOutcome) => void;
  reject: (e: unknown) => void;
}

interface PolicyState {
  policy: AuditPolicy;
  pending: Pending[];
  running: boolean;
  /** The ConfigMap as this replica last wrote or read it; a stale one costs a conflict and a GET. */
  cached: KubeObject | undefined;
}

export class HeadStoreFull extends Error {}

export class HeadStore {
  private readonly states = new Map<string, PolicyState>();
  private readonly api: KubeApi;
  private readonly now: () => Date;
  private readonly cosigner: Cosigner;
  private readonly maxBatch: number;
  /** Writes that succeeded and conflicts that made a batch retry (bench, metrics). */
  readonly counters = { writes: 0, conflicts: 0, bytes: 0 };

  constructor(deps: HeadStoreDeps) {
    this.api = deps.api;
    this.now = deps.now ?? (() => new Date());
    this.cosigner = deps.cosigner;
    this.maxBatch = deps.maxBatch ?? Number.POSITIVE_INFINITY;
  }

  /** Decides one add-checkpoint request; resolves once its outcome is durable. */
  submit(policy: AuditPolicy, verifier: WitnessInputs['verifier'], body: Uint8Array): Promise<WitnessOutcome> {
    const key = `${policy.metadata.namespace ?? ''}/${policy.metadata.name ?? ''}`;
    let st = this.states.get(key);
    if (st === undefined) {
      st = { policy, pending: [], running: false, cached: undefined };
      this.states.set(key, st);
    }
    st.policy = policy;
    const state = st;
    return new Promise<WitnessOutcome>((resolve, reject) => {
      state.pending.push({ body, verifier, resolve, reject });
      if (!state.running) void this.run(state);
    });
  }

  private async run(st: PolicyState): Promise<void> {
    st.running = true;
    try {
      while (st.pending.length > 0) {
        const batch = st.pending.splice(0, this.maxBatch);
        try {
          const outcomes = await this.commit(st, batch);
          batch.forEach((p, i) => p.resolve(outcomes[i] as WitnessOutcome));
        } catch (err) {
          st.cached = undefined;
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      st.running = false;
    }
  }

  private async commit(st: PolicyState, batch: Pending[]): Promise<WitnessOutcome[]> {
    const ns = st.policy.metadata.namespace ?? '';
    const policyName = st.policy.metadata.name ?? '';
    const name = headsConfigMapName(policyName);
    for (let attempt = 0; ; attempt++) {
      const fromCache = st.cached !== undefined;
      const cm = st.cached ?? (await this.api.get('configmaps', ns, name));
      const heads: Heads = readHeads(cm);
      const at = this.now();
      const now = at.toISOString().replace(/\.\d+Z$/, 'Z');
      let changed = false;
      const outcomes = batch.map((p): WitnessOutcome => {
        const o = decideAddCheckpoint(p.body, { verifier: p.verifier, headOf: (origin) => heads[origin], policy: policyName, now });
        if (o.status === 200) {
          const cosignature = this.cosigner.cosign(o.text, Math.floor(at.getTime() / 1000));
          heads[o.origin] = { ...o.head, checkpoint: `${o.note}${cosignature}\n` };
          changed = true;
          return { ...o, cosignature };
        } else if ('refusal' in o && o.refusal !== undefined && o.origin !== undefined) {
          const h = heads[o.origin];
          if (h !== undefined) {
            heads[o.origin] = { ...h, refused: o.refusal };
            changed = true;
          }
        }
        return o;
      });
      if (!changed) {
        // Answers that write nothing (409, 403, ...) must not rest on a copy another replica may
        // have moved past: decide them again on a fresh read.
        if (fromCache && outcomes.some((o) => o.status === 409 || o.status === 422)) {
          st.cached = undefined;
          continue;
        }
        st.cached = cm;
        return outcomes;
      }
      const text = formatHeads(heads);
      if (Buffer.byteLength(text) > MAX_HEADS_BYTES) throw new HeadStoreFull(`the heads of policy ${ns}/${policyName} exceed ${MAX_HEADS_BYTES} bytes`);
      try {
        st.cached =
          cm === undefined
            ? await this.api.create('configmaps', {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name, namespace: ns, labels: { ...MANAGED_BY, [LABEL_POLICY]: policyName, [LABEL_HEADS]: 'true' }, ownerReferences: [ownerReference(st.policy)] },
                data: { [HEADS_KEY]: text },
              })
            : await this.api.replace('configmaps', { ...cm, data: { ...((cm.data as Record<string, string> | undefined) ?? {}), [HEADS_KEY]: text } });
        this.counters.writes++;
        this.counters.bytes += Buffer.byteLength(text);
        return outcomes;
      } catch (err) {
        if (!isConflict(err) || attempt + 1 >= MAX_ATTEMPTS) throw err;
        this.counters.conflicts++;
        st.cached = undefined;
        // Two replicas that lost to each other would collide again at once: spread them out.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * Math.min(attempt + 1, 5)));
      }
    }
  }
}
