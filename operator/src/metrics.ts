import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, on one registry served at /metrics by the health server. */
export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'controller' | 'result'>;
  watchRestarts: Counter<'resource' | 'reason'>;
  leader: Gauge;
  podsMissing: Gauge<'namespace' | 'policy'>;
}

export function createOperatorMetrics(options: { defaultMetrics?: boolean } = {}): OperatorMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'llmaudit_operator_' });
  return {
    registry,
    reconciles: new Counter({ name: 'llmaudit_operator_reconciles_total', help: 'Reconciles by controller and result (ok, error).', labelNames: ['controller', 'result'], registers: [registry] }),
    watchRestarts: new Counter({ name: 'llmaudit_operator_watch_restarts_total', help: 'Watch restarts by resource and reason (gone: relist, error, stall).', labelNames: ['resource', 'reason'], registers: [registry] }),
    leader: new Gauge({ name: 'llmaudit_operator_leader', help: '1 while this replica holds the leader Lease.', registers: [registry] }),
    podsMissing: new Gauge({ name: 'llmaudit_operator_pods_missing_sidecar', help: 'Pods labelled for injection that run without the sidecar.', labelNames: ['namespace', 'policy'], registers: [registry] }),
  };
}
