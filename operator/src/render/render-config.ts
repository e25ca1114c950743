/**
 * AuditPolicy → sidecar config (the ConfigMap `llmaudit-<policy>-config`, key config.yaml). Pure.
 * The result is validated by the sidecar's own parseSidecarConfig (docs/architecture.md "Principles": one source of truth per contract),
 * so the operator can never write a config the proxy would refuse.
 *
 * Spec fields that shape the pod rather than the proxy (storage, signing, sidecar image and
 * resources, env) are applied by inject/inject-sidecar.ts; render-config.test.ts checks that every
 * spec field lands in one or the other.
 */
import { stringify } from 'yaml';
import { parseSidecarConfig, type SidecarConfig } from '@llmaudit/sidecar/config';
import type { AuditPolicy, EndpointSpec } from '../api/audit-policy.ts';
import { CONFIG_FILE_KEY, ERASE_MOUNT_DIR, ERASE_TOKEN_FILE, LOG_MOUNT_DIR, REDIS_MOUNT_DIR, REDIS_PASSWORD_FILE, SIGNING_FILE, SIGNING_MOUNT_DIR } from '../api/names.ts';
import type { GovernanceSpec } from '../api/governance-spec.ts';
import { operatorError } from '../errors.ts';

export const DEFAULT_TAKEOVER_BACKEND_PORT = 11435;

export interface RenderContext {
  /** The submission prefix of the operator's C2SP tlog-witness for this policy (docs/witness.md); omitted: no witness. */
  witnessUrl?: string;
}

/** Where the taken-over server moves to: 127.0.0.1:<port>. */
export function takeOverBackendPort(ep: EndpointSpec): number {
  return ep.takeOverBackendPort ?? DEFAULT_TAKEOVER_BACKEND_PORT;
}

export function endpointUpstream(ep: EndpointSpec): string {
  return ep.upstream ?? `http://127.0.0.1:${takeOverBackendPort(ep)}`;
}

/** Raw config object before validation (exported for the field-coverage test). */
export function buildSidecarConfig(policy: AuditPolicy, ctx: RenderContext = {}): Record<string, unknown> {
  const s = policy.spec;
  const listeners: Record<string, unknown>[] = [{ address: '127.0.0.1', port: s.sidecar.ports.proxy }];
  for (const ep of s.endpoints) {
    if (ep.port !== undefined) listeners.push({ address: '127.0.0.1', port: ep.port, defaultEndpoint: ep.name });
    // The takeover listener binds every interface: the Ollama server it replaces listened on the
    // pod IP (the ollama/ollama image sets OLLAMA_HOST=0.0.0.0), so Services and other pods keep
    // reaching it — through the sidecar, recorded.
    if (ep.takeOverPort !== undefined) listeners.push({ address: '0.0.0.0', port: ep.takeOverPort, defaultEndpoint: ep.name });
  }
  const telemetry: Record<string, unknown> = { samplingRatio: s.telemetry.samplingRatio, captureContent: s.telemetry.captureContent };
  if (s.telemetry.otlpEndpoint !== undefined) telemetry.otlpEndpoint = s.telemetry.otlpEndpoint;
  if (s.telemetry.serviceName !== undefined) telemetry.serviceName = s.telemetry.serviceName;
  return {
    version: 1,
    policy: policy.metadata.name ?? 'unnamed',
    listeners,
    endpoints: s.endpoints.map((ep) => ({
      name: ep.name,
      upstream: endpointUpstream(ep),
      api: ep.api,
      ...(ep.pathPrefix === undefined ? {} : { pathPrefix: ep.pathPrefix }),
    })),
    capture: { ...s.capture, redactHeaders: [...s.capture.redactHeaders] },
    log: {
      dir: LOG_MOUNT_DIR,
      keyFile: `${SIGNING_MOUNT_DIR}/${SIGNING_FILE}`,
      durability: s.log.durability,
      onLogFailure: s.log.onLogFailure,
      signEntries: s.log.signEntries,
      segmentMaxBytes: s.log.segmentMaxBytes,
      segmentMaxAgeSeconds: s.log.segmentMaxAgeSeconds,
      checkpointIntervalSeconds: s.log.checkpointIntervalSeconds,
      retention: {
        ...(s.log.retention.maxAgeDays === undefined ? {} : { maxAgeDays: s.log.retention.maxAgeDays }),
        ...(s.log.retention.maxTotalBytes === undefined ? {} : { maxTotalBytes: quantityBytes(s.log.retention.maxTotalBytes) }),
        mode: s.log.retention.mode,
      },
    },
    // Bound to every interface: the kubelet's startup/readiness probes and Prometheus come from
    // outside the pod's loopback. The admin port serves health and metrics, never traffic, and
    // POST /v1/erase only when spec.erase names a token Secret (mounted at ERASE_MOUNT_DIR).
    admin: {
      address: '0.0.0.0',
      port: s.sidecar.ports.admin,
      ...(s.erase.tokenSecretRef === undefined ? {} : { eraseTokenFile: `${ERASE_MOUNT_DIR}/${ERASE_TOKEN_FILE}` }),
    },
    telemetry,
    witness: ctx.witnessUrl === undefined ? {} : { url: ctx.witnessUrl },
    governance: renderGovernance(s.governance),
  };
}

/** spec.governance as the sidecar takes it: a Redis password Secret becomes the file it is mounted as. */
function renderGovernance(g: GovernanceSpec): unknown {
  const out = structuredClone(g) as Partial<GovernanceSpec>;
  const redis = out.rateLimits?.redis;
  if (redis?.passwordSecretRef !== undefined) {
    delete redis.passwordSecretRef;
    redis.passwordFile = `${REDIS_MOUNT_DIR}/${REDIS_PASSWORD_FILE}`;
  }
  return out;
}

/** Renders and validates; throws LLMAUDIT_E_POLICY_CONFIG_INVALID (cause: the sidecar's error). */
export function renderSidecarConfig(policy: AuditPolicy, ctx: RenderContext = {}): SidecarConfig {
  try {
    return parseSidecarConfig(buildSidecarConfig(policy, ctx));
  } catch (err) {
    throw operatorError('LLMAUDIT_E_POLICY_CONFIG_INVALID', `${policy.metadata.namespace ?? ''}/${policy.metadata.name ?? ''}: ${(err as Error).message}`, { cause: err });
  }
}

/** The ConfigMap data for a policy: { 'config.yaml': <YAML> }. */
export function renderConfigMapData(policy: AuditPolicy, ctx: RenderContext = {}): Record<string, string> {
  const config = renderSidecarConfig(policy, ctx);
  return { [CONFIG_FILE_KEY]: `# Rendered by llmaudit-operator from AuditPolicy ${policy.metadata.namespace ?? ''}/${policy.metadata.name ?? ''}. Edit the policy, not this.\n${stringify(config)}` };
}

const QUANTITY_SUFFIX: Readonly<Record<string, number>> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes quantity (`5Gi`, `500M`, `1e9`, 1024) as whole bytes; the CRD's pattern has validated it. */
export function quantityBytes(q: string | number): number {
  if (typeof q === 'number') return Math.floor(q);
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)([KMGTPE]i|[mkMGTPE])?$/.exec(q.trim());
  if (m === null) return Number.NaN;
  return Math.floor(Number(m[1]) * (QUANTITY_SUFFIX[m[2] ?? ''] ?? 1));
}
