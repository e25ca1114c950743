import { Counter, Gauge, type Registry } from 'prom-client';

/** The witness's Prometheus metrics, on the operator's registry (served at /metrics). */
export interface WitnessMetrics {
  /** add-checkpoint answers by result: cosigned, conflict, refused, unprocessable, forbidden, not_found, bad_request, error. */
  requests: Counter<'result'>;
  /** Chains of a policy by state: witnessed, stale, inconsistent (set by the leader's rollup). */
  chains: Gauge<'namespace' | 'policy' | 'state'>;
}

export function createWitnessMetrics(registry: Registry): WitnessMetrics {
  const existing = registry.getSingleMetric('llmaudit_operator_witness_requests_total');
  if (existing !== undefined) {
    return { requests: existing as Counter<'result'>, chains: registry.getSingleMetric('llmaudit_operator_chains') as Gauge<'namespace' | 'policy' | 'state'> };
  }
  return {
    requests: new Counter({ name: 'llmaudit_operator_witness_requests_total', help: 'C2SP tlog-witness add-checkpoint requests by result.', labelNames: ['result'], registers: [registry] }),
    chains: new Gauge({ name: 'llmaudit_operator_chains', help: 'Logs (chains) of a policy by witness state: witnessed, stale, inconsistent.', labelNames: ['namespace', 'policy', 'state'], registers: [registry] }),
  };
}
