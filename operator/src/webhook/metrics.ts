/**
 * llmaudit_operator_injections_total{result}: one count per AdmissionReview, by outcome
 * (injected, already_injected, skipped, no_policy, invalid_policy, error, timeout: over the
 * webhook's budget); dry-run reviews are not counted. An alert on
 * result!="injected"/"already_injected"/"skipped" finds pods that run unaudited.
 */
import { Counter, type Registry } from 'prom-client';
import type { InjectionResult } from './admission.ts';

export function createInjectionCounter(registry: Registry): (result: InjectionResult) => void {
  const counter = new Counter({
    name: 'llmaudit_operator_injections_total',
    help: 'AdmissionReviews answered by the sidecar injection webhook, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return (result) => counter.inc({ result });
}
