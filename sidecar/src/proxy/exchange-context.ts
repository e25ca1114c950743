/**
 * What every exchange shares: the live config, router, upstream pools, sink, logger, tracer,
 * metrics, media store and the log gate. Built once by createProxy(); the config and router
 * getters follow reloads.
 */
import type { Logger } from 'pino';
import type { SidecarConfig } from '../config/schema.ts';
import type { ExchangeTracer } from '../telemetry/types.ts';
import type { MediaStore } from '../capture/media-store.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { Router } from './router.ts';
import type { Upstreams } from './upstreams.ts';
import type { AuditSink } from './sink.ts';
import type { Governance } from '../governance/engine.ts';
import type { GovernanceMetrics } from '../governance/exchange-hook.ts';
import type { MemoryBudget } from '../capture/memory-budget.ts';

export interface ExchangeContext {
  readonly config: SidecarConfig;
  readonly router: Router;
  readonly upstreams: Upstreams;
  readonly sink: AuditSink;
  readonly logger: Logger;
  readonly tracer: ExchangeTracer;
  readonly metrics: ProxyMetrics;
  readonly media: MediaStore | null;
  readonly origin: string;
  readonly now: () => number;
  /** Set while appends fail; with onLogFailure: block new exchanges get 503 until one succeeds. */
  readonly logState: { down: boolean };
  /** Governance decisions; its rate-limit and budget state outlives config reloads. */
  readonly governance: Governance;
  readonly governanceMetrics: GovernanceMetrics | null;
  /** Bytes buffered or decoded across all in-flight exchanges (capture.memoryBudgetBytes). */
  readonly budget: MemoryBudget;
}
