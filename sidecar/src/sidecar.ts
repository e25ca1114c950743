/**
 * The sidecar assembled: config → audit log writer → tracer → proxy → admin server → config
 * watcher. `startSidecar` is what `llmaudit proxy` (main.ts) runs, in a pod and on a laptop alike,
 * and what tests and benchmarks start in-process.
 *
 * Shutdown order (docs/style-guide.md "Streaming and lifecycle"; docs/configuration.md "Shutdown"): readiness turns 503 first, the
 * proxy stops accepting and drains in-flight exchanges up to the deadline (their entries are
 * appended), the tracer exports what it holds, the log writer drains its queue, fsyncs and signs
 * a final checkpoint, and the admin server goes last so probes answer during the drain.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { openLog, type AuditLog } from './auditlog/index.ts';
import { logWorkerScript, openLogInThread } from './auditlog/log-thread.ts';
import type { LogFs } from './auditlog/log-fs.ts';
import type { LlmauditError } from './errors.ts';
import type { SidecarConfig } from './config/schema.ts';
import { createConfigWatcher, type ConfigWatcher } from './config/watch.ts';
import { createAdminServer, type AdminServer, type Readiness } from './proxy/admin-server.ts';
import { createProxy, type ListenAddress, type Proxy, type ProxyDeps } from './proxy/create-proxy.ts';
import { createProxyMetrics } from './proxy/metrics.ts';
import { createTracer, type OtelTracer, type TracerResource } from './telemetry/otel-tracer.ts';
import { effectiveTelemetry, redactionActive } from './governance/span-content.ts';
import { WitnessPusher } from './witness/pusher.ts';
import { createRetentionMetrics, startRetention } from './retention/sweep.ts';
import { liveEraser } from './erasure/live.ts';
import { readFile } from 'node:fs/promises';
import { governanceKey } from './governance/key.ts';
import { createGovernanceMetrics } from './governance/exchange-hook.ts';

export interface SidecarDeps {
  logger: Logger;
  /** Signer key text (C2SP signed-note PRIVATE+KEY+...). */
  signerKey: string;
  /** Resource attributes for spans (service and pod names). */
  resource: TracerResource;
  /** A fresh registry by default; default process metrics are added to it. */
  registry?: Registry;
  /** Hot reload of a config file; null or absent: no watching. */
  watch?: {
    file: string;
    initialText: string;
    parse: (text: string) => SidecarConfig;
    debounceMs?: number;
    pollMs?: number;
  } | null;
  /** Upstream dispatchers (tests and benchmarks); default: undici pools. */
  dispatcherFactory?: ProxyDeps['dispatcherFactory'];
  /** The audit log's file system (fault-injection tests); default: node:fs. Implies logThread 'inline'. */
  logFs?: LogFs;
  /** Where the log writer runs: 'thread' (default, log-thread.ts) or 'inline' on the event loop. */
  logThread?: 'thread' | 'inline';
}

export interface Sidecar {
  readonly listeners: readonly ListenAddress[];
  readonly admin: ListenAddress;
  readonly log: AuditLog;
  readonly registry: Registry;
  config(): SidecarConfig;
  /** Applies a new config: routes, endpoints, capture, telemetry. Settings that need a restart are logged. */
  reload(next: SidecarConfig): void;
  readiness(): Readiness;
  /** Stops accepting, drains, seals a checkpoint, fsyncs. Idempotent. Resolves false when a part failed to close (logged). */
  close(opts?: { drainMs?: number }): Promise<boolean>;
}

/** Keys a running sidecar cannot change: they name or shape the open chain, the bound ports and the witness pusher (built once at start). */
const RESTART_KEYS = ['origin', 'log', 'admin', 'listeners', 'witness'] as const;

export function restartOnlyChanges(a: SidecarConfig, b: SidecarConfig): string[] {
  // A listener's defaultEndpoint is a route (reloaded); only its address and port are bound.
  const view = (c: SidecarConfig, k: (typeof RESTART_KEYS)[number]) => JSON.stringify(k === 'listeners' ? c.listeners.map((l) => [l.address, l.port]) : c[k]);
  return RESTART_KEYS.filter((k) => view(a, k) !== view(b, k));
}

export async function startSidecar(initial: SidecarConfig, deps: SidecarDeps): Promise<Sidecar> {
  const { logger } = deps;
  const origin = initial.origin;
  const chainDir = initial.log.chainDir;
  if (origin === undefined || chainDir === undefined) throw new Error('startSidecar needs a resolved config (origin and log.chainDir): use loadConfig()');
  let config = initial;
  const registry = deps.registry ?? new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createProxyMetrics(registry);
  let logFailure: string | null = null;
  let closing: Promise<boolean> | null = null;

  let witness: WitnessPusher | undefined;
  const logOptions = {
    dir: chainDir,
    origin,
    signerKey: deps.signerKey,
    durability: config.log.durability,
    signEntries: config.log.signEntries,
    segmentMaxBytes: config.log.segmentMaxBytes,
    segmentMaxAgeMs: config.log.segmentMaxAgeSeconds * 1000,
    checkpointIntervalMs: config.log.checkpointIntervalSeconds * 1000,
    // Every new checkpoint (seal, interval, shutdown) goes to the witness, when one is configured.
    onCheckpoint: (cp: { note: string }) => witness?.offer(cp.note),
    onBackgroundError: (err: LlmauditError) => {
      if (err.code === 'LLMAUDIT_E_LOG_FAILED') logFailure = err.code;
      logger.error({ code: err.code, reason: err.message }, 'audit log background work failed');
    },
  };
  // The writer runs on a thread of its own (ADR 0010) unless a test hands in a file system, which
  // cannot cross threads, or the sources run unbuilt (no log-worker.mjs: written in-process).
  const wantThread = deps.logFs === undefined && deps.logThread !== 'inline';
  const workerScript = wantThread ? logWorkerScript() : null;
  if (wantThread && workerScript === null) logger.warn('log-worker.mjs is not built: the audit log is written on the event loop');
  const log = workerScript !== null ? await openLogInThread({ ...logOptions, workerScript, degradeRefused: true }) : await openLog({ ...logOptions, ...(deps.logFs === undefined ? {} : { fs: deps.logFs }) });

  const parts: { tracer?: OtelTracer; proxy?: Proxy; admin?: AdminServer; watcher?: ConfigWatcher; retention?: { stop: () => Promise<void> } } = {};
  try {
    if (config.telemetry.captureContent && redactionActive(config)) logger.warn('telemetry.captureContent is ignored while anything redacts: spans carry no message content');
    const tracer = createTracer({ telemetry: effectiveTelemetry(config), resource: deps.resource, registry, logger });
    parts.tracer = tracer;
    await tracer.ready(); // the span pipeline, when a collector is configured (docs/adr/0027)
    const proxy = createProxy({
      config,
      sink: log,
      logger,
      tracer,
      metrics,
      governanceKey: governanceKey(config, deps.signerKey),
      governanceMetrics: createGovernanceMetrics(registry),
      chainDir,
      origin,
      ...(deps.dispatcherFactory === undefined ? {} : { dispatcherFactory: deps.dispatcherFactory }),
    });
    parts.proxy = proxy;

    const readiness = (): Readiness => {
      const reasons: string[] = [];
      if (closing !== null) reasons.push('shutting down');
      if (!proxy.listening()) reasons.push('proxy listeners are not up');
      if (logFailure !== null) reasons.push(`audit log failed (${logFailure})`);
      // Fail closed (onLogFailure: block): while appends fail the proxy answers 503, so the pod is
      // not ready either; the gate (and readiness) reopen once a probe of the chain directory or an append succeeds (proxy/log-gate.ts).
      else if (config.log.onLogFailure === 'block' && proxy.logDown()) reasons.push('audit log appends are failing (onLogFailure: block)');
      return { ready: reasons.length === 0, reasons };
    };
    const witnessUrl = config.witness.url;
    if (witnessUrl !== undefined) {
      witness = new WitnessPusher({ url: witnessUrl, log, registry, logger, intervalMs: config.witness.intervalSeconds * 1000 });
      const latest = log.latestCheckpoint();
      if (latest !== null) witness.offer(latest);
    }
    if (config.log.retention.maxAgeDays !== undefined || config.log.retention.maxTotalBytes !== undefined) {
      parts.retention = startRetention(log, config.log.retention, { metrics: createRetentionMetrics(registry), logger });
    }
    const pusher = witness;
    // /v1/checkpoint serves the newest checkpoint with the witness cosignatures held for it.
    const logView = pusher === undefined ? log : { inclusionProof: log.inclusionProof.bind(log), consistencyProof: log.consistencyProof.bind(log), latestCheckpoint: () => pusher.withCosignatures(log.latestCheckpoint()) };
    const eraseToken = config.admin.eraseTokenFile === undefined ? null : (await readFile(config.admin.eraseTokenFile, 'utf8')).trim();
    const admin = createAdminServer({
      address: config.admin.address,
      port: config.admin.port,
      registry,
      log: () => (logFailure === null ? logView : null),
      readiness,
      logger,
      ...(eraseToken === null ? {} : { erase: liveEraser(() => (logFailure === null ? log : null), eraseToken) }),
      // Gauges read at scrape time, so an exchange pays nothing for them.
      beforeScrape: () => {
        metrics.logQueueDepth.set(log.stats().queueDepth);
        metrics.inflight.set(proxy.inflight());
      },
    });
    parts.admin = admin;
    // The admin port first, so /healthz answers and /readyz says why while listeners bind.
    const adminAddress = await admin.start();
    const listeners = await proxy.start();

    const reload = (next: SidecarConfig): void => {
      const restart = restartOnlyChanges(config, next);
      if (restart.length > 0) logger.warn({ keys: restart }, 'these settings take effect after a restart; the rest is applied now');
      proxy.reload(next);
      tracer.reload(effectiveTelemetry(next));
      config = next;
    };
    if (deps.watch != null) {
      const w = deps.watch;
      parts.watcher = createConfigWatcher({
        file: w.file,
        parse: w.parse,
        apply: reload,
        logger,
        reloads: metrics.configReloads,
        initialText: w.initialText,
        ...(w.debounceMs === undefined ? {} : { debounceMs: w.debounceMs }),
        ...(w.pollMs === undefined ? {} : { pollMs: w.pollMs }),
      });
      parts.watcher.start();
    }

    return {
      listeners,
      admin: adminAddress,
      log,
      registry,
      config: () => config,
      reload,
      readiness,
      close(opts = {}) {
        if (closing !== null) return closing;
        closing = (async () => {
          const drainMs = opts.drainMs ?? config.shutdownDrainMs;
          logger.info({ inflight: proxy.inflight(), drainMs }, 'shutting down: draining in-flight exchanges');
          const ok = [
            await step(logger, 'closing the config watcher', () => parts.watcher?.close()),
            await step(logger, 'closing the proxy', () => proxy.close({ drainMs })),
            await step(logger, 'closing the tracer', () => tracer.close()),
            // Sealed even when nothing was recorded: a size-0 checkpoint still pins the origin and key.
            await step(logger, 'stopping the retention sweep', () => parts.retention?.stop()),
            await step(logger, 'signing the final checkpoint', async () => void (await log.checkpoint())),
            await step(logger, 'pushing the final checkpoint to the witness', () => witness?.close()),
            await step(logger, 'closing the audit log', () => log.close()),
            await step(logger, 'closing the admin server', () => admin.close()),
          ].every(Boolean);
          logger.info({ size: log.size, checkpoint: firstLine(log.latestCheckpoint()), clean: ok }, 'shut down: log sealed');
          return ok;
        })();
        return closing;
      },
    };
  } catch (err) {
    await parts.watcher?.close().catch(() => undefined);
    await parts.proxy?.close({ drainMs: 0 }).catch(() => undefined);
    await parts.admin?.close().catch(() => undefined);
    await parts.tracer?.close().catch(() => undefined);
    await witness?.close(0).catch(() => undefined);
    await log.close().catch(() => undefined);
    throw err;
  }
}

async function step(logger: Logger, what: string, fn: () => Promise<void> | undefined): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    logger.error({ code: e.code, reason: e.message }, `shutdown: ${what} failed`);
    return false;
  }
}

function firstLine(note: string | null): string | null {
  if (note === null) return null;
  // The checkpoint body is origin, size, root hash (C2SP tlog-checkpoint); size and root suffice here.
  const lines = note.split('\n');
  return `${lines[1] ?? ''} ${lines[2] ?? ''}`.trim();
}
