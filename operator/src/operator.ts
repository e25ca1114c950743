import type { AuditPolicy } from './api/audit-policy.ts';
import type { RunConfig } from './config/run-config.ts';
import { ControllerManager, type WatchTuning } from './controllers/controller-manager.ts';
import { resolvePolicyName } from './controllers/policy-lookup.ts';
import { signingKeys } from './controllers/signing-keys.ts';
import type { Log } from './controllers/types.ts';
import { WatchLoop } from './controllers/watch-loop.ts';
import { startHealthServer } from './health-server.ts';
import { createEventEmitter, type EmitEvent } from './kube/events.ts';
import type { KubeApi } from './kube/types.ts';
import { LeaderElector } from './leader/lease-elector.ts';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';
import { renderConfigMapData } from './render/render-config.ts';
import { startWebhookRuntime, type WebhookRuntimeOptions } from './webhook-runtime.ts';
import { startWitnessRuntime, type WitnessRuntime } from './witness/witness-runtime.ts';

export interface Closable {
  close(): Promise<void>;
}

export interface WebhookHandle extends Closable {
  /** Can answer AdmissionReviews (has a certificate). */
  ready(): boolean;
  leadershipChanged(leading: boolean): void;
}

/** What the webhook server (operator/src/webhook) gets from the operator. */
export interface WebhookContext {
  api: KubeApi;
  config: RunConfig;
  isLeader: () => boolean;
  /** The pod's policy from the local cache: the named one, else the namespace's only one, else `default`. */
  lookupPolicy: (namespace: string, name?: string) => AuditPolicy | undefined;
  emitEvent: EmitEvent;
  log: Log;
  metrics: OperatorMetrics;
}

export interface OperatorDeps {
  api: KubeApi;
  config: RunConfig;
  log: Log;
  metrics?: OperatorMetrics;
  keys?: typeof signingKeys;
  render?: (policy: AuditPolicy) => Record<string, string>;
  /** Starts the HTTPS admission server on every replica (default: webhook-runtime.ts); false: none. */
  startWebhook?: ((ctx: WebhookContext) => Promise<WebhookHandle>) | false;
  /** Options of the default webhook runtime (tests: fast certificate ticks). */
  webhookOptions?: WebhookRuntimeOptions;
  election?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  watch?: WatchTuning;
  /** Runs the C2SP tlog-witness on --witness-port (witness/witness-runtime.ts); main.ts turns it on. */
  witness?: boolean;
}

export interface RunningOperator extends Closable {
  healthPort: number;
  /** The webhook's port when the default runtime serves it. */
  webhookPort: number | undefined;
  /** The witness's port when it runs. */
  witnessPort: number | undefined;
  isLeader(): boolean;
  /** The running controllers while leading (tests). */
  controllers(): ControllerManager | undefined;
}

/**
 * Wires one operator replica. Every replica serves health, metrics and the admission webhook from
 * a watched AuditPolicy cache; only the Lease holder runs the controllers and the leader tasks, so
 * the chart can run two replicas for an available webhook with a single writer.
 */
export async function startOperator(deps: OperatorDeps): Promise<RunningOperator> {
  const { api, config, log } = deps;
  const metrics = deps.metrics ?? createOperatorMetrics();
  const keys = deps.keys ?? signingKeys;
  const emitEvent = createEventEmitter({ api, component: 'llmaudit-operator', instance: config.identity, onError: (err) => log.warn({ err }, 'event not recorded') });
  const watch: WatchTuning = { resyncMs: config.resyncSeconds * 1000, ...deps.watch };

  let manager: ControllerManager | undefined;
  let leading = false;
  // Leadership changes are applied one after another, never interleaved.
  let transition: Promise<void> = Promise.resolve();

  const policies = new WatchLoop({
    api,
    resource: 'auditpolicies',
    handler: { upsert: (o) => manager?.policyChanged(o), delete: (o) => manager?.policyChanged(o) },
    ...(watch.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: watch.stallTimeoutMs }),
    ...(watch.backoff === undefined ? {} : { backoff: watch.backoff }),
    resyncMs: watch.resyncMs ?? 300_000,
    watchList: watch.watchList ?? true,
    observer: (ev) => {
      if (ev.type === 'restart') metrics.watchRestarts.inc({ resource: 'auditpolicies', reason: ev.reason });
      if (ev.type === 'relist') metrics.watchRestarts.inc({ resource: 'auditpolicies', reason: 'gone' });
    },
  });
  policies.start();

  const lookupPolicy = (namespace: string, name?: string): AuditPolicy | undefined => {
    const names = policies.listNamespace(namespace).map((p) => p.metadata.name ?? '');
    const chosen = resolvePolicyName(names, name);
    return chosen === undefined ? undefined : (policies.get(`${namespace}/${chosen}`) as unknown as AuditPolicy | undefined);
  };

  let webhook: (WebhookHandle & { port?: number }) | undefined;
  const health = await startHealthServer({ port: config.healthPort, registry: metrics.registry, ready: () => policies.hasSynced && (deps.startWebhook === false || webhook?.ready() === true) });
  if (deps.startWebhook !== false) {
    const start = deps.startWebhook ?? ((ctx: WebhookContext) => startWebhookRuntime(ctx, deps.webhookOptions));
    webhook = await start({ api, config, isLeader: () => leading, lookupPolicy, emitEvent, log, metrics });
  }
  let witness: WitnessRuntime | undefined;
  if (deps.witness === true) {
    // A witness that cannot start (its key Secret unreadable, its port taken) is reported; the
    // webhook and the controllers keep working without it.
    try {
      witness = await startWitnessRuntime({ api, config, log, metrics, emitEvent, lookupPolicy: (ns, name) => policies.get(`${ns}/${name}`) as unknown as AuditPolicy | undefined });
    } catch (err) {
      log.error({ err }, 'witness not started');
    }
  }

  const lead = (): void => {
    transition = transition.then(async () => {
      metrics.leader.set(1);
      log.info({ identity: config.identity }, 'started leading');
      manager = new ControllerManager({ api, policies, log, metrics, render: deps.render ?? ((p) => renderConfigMapData(p, witness === undefined ? {} : { witnessUrl: witness.urlFor(p) })), ...keys, emitEvent, watch, ...(witness === undefined ? {} : { witness: { verifierKey: witness.verifierKey, metrics: witness.metrics } }) });
      const started = manager;
      void started.start().then(
        () => log.info({ cached: started.cacheSizes() }, 'controllers synced'),
        (err: unknown) => log.error({ err }, 'controllers failed to start'),
      );
      webhook?.leadershipChanged(true);
    }).catch((err: unknown) => log.error({ err }, 'leader start failed'));
  };
  const unlead = (): void => {
    transition = transition.then(async () => {
      metrics.leader.set(0);
      log.info({ identity: config.identity }, 'stopped leading');
      const m = manager;
      manager = undefined;
      webhook?.leadershipChanged(false);
      await m?.close();
    }).catch((err: unknown) => log.error({ err }, 'leader stop failed'));
  };

  let elector: LeaderElector | undefined;
  if (config.leaderElect) {
    elector = new LeaderElector({
      api,
      namespace: config.namespace,
      name: config.leaseName,
      identity: config.identity,
      ...deps.election,
      onStartedLeading: () => {
        leading = true;
        lead();
      },
      // Called the moment the renew deadline passes (or on close): the controllers stop and their
      // requests in flight are aborted, before the lease can expire for another replica.
      onStoppedLeading: () => {
        leading = false;
        unlead();
        return transition;
      },
      observer: (ev) => {
        if (ev.type === 'error') log.warn({ err: ev.error }, 'leader election: lease update failed');
        if (ev.type === 'new-leader') log.info({ leader: ev.identity }, 'leader observed');
      },
    });
    elector.start();
  } else {
    leading = true;
    lead();
  }

  let closing: Promise<void> | undefined;
  return {
    healthPort: health.port,
    webhookPort: webhook?.port,
    witnessPort: witness?.port,
    isLeader: () => leading,
    controllers: () => manager,
    close: () => {
      closing ??= (async () => {
        if (elector !== undefined) await elector.close();
        else unlead();
        await transition;
        await webhook?.close();
        await witness?.close();
        await policies.close();
        await health.close();
      })();
      return closing;
    },
  };
}
