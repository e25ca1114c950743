import { DEFAULT_SIDECAR_IMAGE } from './cli/inject.ts';
import { createCertDirSource, type CertDirSource } from './certs/cert-dir.ts';
import { createSelfManagedCerts, type SelfManagedCerts, type SelfManagedCertsOptions } from './certs/self-managed.ts';
import type { ClusterInfo } from './inject/inject-sidecar.ts';
import { webhookCaBundlePatcher } from './kube/ca-bundle.ts';
import { secretCertStore } from './kube/secret-cert-store.ts';
import type { WebhookContext, WebhookHandle } from './operator.ts';
import { createInjectionCounter } from './webhook/metrics.ts';
import { createWebhookServer, type WebhookServer } from './webhook/server.ts';
import type { WebhookEvent } from './webhook/admission.ts';


export interface WebhookRuntimeOptions {
  /** Overrides for the self-managed certificates (tests: short validity, fast interval). */
  certs?: Partial<Pick<SelfManagedCertsOptions, 'now' | 'caValidityMs' | 'servingValidityMs' | 'renewFraction' | 'intervalMs' | 'caPhaseGapMs'>>;
  certDirRetryMs?: number;
}

/**
 * The admission webhook of one replica: F's HTTPS server (operator/src/webhook) fed with the
 * policy cache, the cluster facts injection depends on (server version for native sidecars,
 * OpenShift), and its TLS pair — self-managed in a Secret (every replica loads it; the leader
 * renews it and patches the caBundle) or mounted from cert-manager / OpenShift service-ca.
 */
export async function startWebhookRuntime(ctx: WebhookContext, options: WebhookRuntimeOptions = {}): Promise<WebhookHandle & { port: number }> {
  const { api, config, log } = ctx;
  const cluster = await discoverCluster(ctx);
  log.info({ serverVersion: cluster.serverVersion, openshift: cluster.openshift }, 'cluster discovered');
  let hasCert = false;
  const server: WebhookServer = createWebhookServer({
    port: config.webhookPort,
    lookupPolicy: ctx.lookupPolicy,
    cluster: () => cluster,
    emitEvent: (e) => ctx.emitEvent(toEventInput(e)),
    count: createInjectionCounter(ctx.metrics.registry),
    log,
  });
  const setCertificate = (pair: { cert: string; key: string }): void => {
    server.setCertificate(pair);
    if (!hasCert) log.info({ certMode: config.certMode }, 'webhook certificate loaded');
    hasCert = true;
  };

  let certs: SelfManagedCerts | undefined;
  let dir: CertDirSource | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  if (config.certMode === 'self') {
    certs = createSelfManagedCerts({
      store: secretCertStore(api, config.namespace, config.certSecret),
      patchCaBundle: webhookCaBundlePatcher(api, config.webhookConfigName),
      onBundle: (b) => setCertificate({ cert: b.cert, key: b.key }),
      isLeader: ctx.isLeader,
      serviceName: config.serviceName,
      namespace: config.namespace,
      onError: (err) => log.warn({ err }, 'webhook certificate tick failed'),
      ...options.certs,
    });
    certs.start();
  } else {
    const source = createCertDirSource({ dir: config.certDir, onChange: setCertificate, onError: (err) => log.warn({ err }, 'webhook certificate reload failed') });
    dir = source;
    // The mounted Secret may not exist yet (cert-manager issues it after install): keep trying.
    const attempt = (): void => {
      source.start().catch((err: unknown) => {
        log.warn({ err, dir: config.certDir }, 'webhook certificate not available yet');
        if (!closed) {
          retry = setTimeout(attempt, options.certDirRetryMs ?? 5000);
          retry.unref();
        }
      });
    };
    attempt();
  }
  const { port } = await server.start();
  return {
    port,
    ready: () => hasCert,
    leadershipChanged: (leading) => {
      // A new leader renews what is due at once rather than at the next interval.
      if (leading) certs?.tick().catch((err: unknown) => log.warn({ err }, 'webhook certificate tick failed'));
    },
    close: async () => {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      certs?.close();
      dir?.close();
      await server.close();
    },
  };
}

async function discoverCluster(ctx: WebhookContext): Promise<ClusterInfo> {
  const { api, config, log } = ctx;
  let serverVersion: ClusterInfo['serverVersion'];
  try {
    serverVersion = await api.version();
  } catch (err) {
    // Unknown version: inject the classic sidecar container, which every version runs.
    log.warn({ err }, 'cannot read the API server version; assuming no native sidecars');
    serverVersion = { major: '1', minor: '28' };
  }
  let openshift = config.openshift === 'true';
  if (config.openshift === 'auto') {
    try {
      openshift = await api.hasApiGroup('security.openshift.io');
    } catch (err) {
      log.warn({ err }, 'cannot run API discovery; assuming not OpenShift');
    }
  }
  return {
    serverVersion,
    openshift,
    // The chart always sets --sidecar-image; the fallback is the image `inject` uses offline.
    sidecarImage: config.sidecarImage ?? DEFAULT_SIDECAR_IMAGE,
    ...(config.sidecarImagePullPolicy === undefined ? {} : { sidecarImagePullPolicy: config.sidecarImagePullPolicy }),
  };
}

/** The webhook reports on the pod's controller (the pod may not exist yet). */
function toEventInput(e: WebhookEvent): Parameters<WebhookContext['emitEvent']>[0] {
  return {
    regarding: { apiVersion: e.involvedObject.apiVersion, kind: e.involvedObject.kind, metadata: { name: e.involvedObject.name, namespace: e.namespace, ...(e.involvedObject.uid === undefined ? {} : { uid: e.involvedObject.uid }) } },
    type: e.type,
    reason: e.reason,
    message: e.message,
  };
}
