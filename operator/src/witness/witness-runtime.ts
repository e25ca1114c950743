// The witness on one operator replica: its key (created on first start), the heads store and the
// HTTP server. Every replica runs it; the compare-and-swap on the heads makes that safe.
import type { AuditPolicy } from '../api/audit-policy.ts';
import type { RunConfig } from '../config/run-config.ts';
import type { Log } from '../controllers/types.ts';
import type { EmitEvent } from '../kube/events.ts';
import type { KubeApi } from '../kube/types.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { HeadStore } from './head-store.ts';
import { ensureWitnessKey } from './witness-key.ts';
import { createWitnessMetrics, type WitnessMetrics } from './witness-metrics.ts';
import { startWitnessServer } from './witness-server.ts';

export interface WitnessRuntime {
  port: number;
  verifierKey: string;
  metrics: WitnessMetrics;
  /** The witness.url a policy's sidecars push to (its submission prefix). */
  urlFor(policy: AuditPolicy): string;
  close(): Promise<void>;
}

/** http://<service>.<namespace>.svc:<port>, or --witness-url. */
export function witnessBaseUrl(config: RunConfig): string {
  return config.witnessUrl !== '' ? config.witnessUrl : `http://${config.serviceName}.${config.namespace}.svc:${config.witnessPort}`;
}

export async function startWitnessRuntime(ctx: { api: KubeApi; config: RunConfig; log: Log; metrics: OperatorMetrics; emitEvent: EmitEvent; lookupPolicy: (namespace: string, name: string) => AuditPolicy | undefined }): Promise<WitnessRuntime> {
  const cosigner = await ensureWitnessKey(ctx.api, ctx.config.namespace);
  const metrics = createWitnessMetrics(ctx.metrics.registry);
  const server = await startWitnessServer({ api: ctx.api, store: new HeadStore({ api: ctx.api, cosigner }), lookupPolicy: ctx.lookupPolicy, emitEvent: ctx.emitEvent, metrics, log: ctx.log, port: ctx.config.witnessPort });
  ctx.log.info({ port: server.port, witnessKey: cosigner.verifierKey }, 'witness listening');
  const base = witnessBaseUrl(ctx.config);
  return {
    port: server.port,
    verifierKey: cosigner.verifierKey,
    metrics,
    urlFor: (p) => `${base}/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`,
    close: () => server.close(),
  };
}
