/**
 * The injected sidecar container and its volumes (docs/operator.md "What injection changes in a pod": hardening).
 * Pure: policy + cluster facts + the UID decision in, container and volumes out.
 */
import type { AuditPolicy } from '../api/audit-policy.ts';
import {
  CONFIG_FILE_KEY, CONFIG_MOUNT_DIR, ERASE_MOUNT_DIR, ERASE_TOKEN_FILE, LOG_MOUNT_DIR, REDIS_MOUNT_DIR, REDIS_PASSWORD_FILE, SIDECAR_CONTAINER_NAME, SIGNING_FILE, SIGNING_MOUNT_DIR, VOLUME_NAMES, policyResourceNames,
} from '../api/names.ts';
import type { Container, SecurityContext, Volume } from './pod-types.ts';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/**
 * The sidecar's defaults. The memory request is what a sidecar carrying traffic holds: measured
 * (the image's bundle and flags, 15,000 exchanges of 1 KiB), peak RSS 108 MiB one at a time, 113
 * at 10 concurrent, 120 at 50; 65 MiB at rest. A request below that would leave every busy pod
 * above its request, first in line when the kubelet evicts under memory pressure (docs/operator.md).
 */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '50m', memory: '128Mi' },
  limits: { cpu: '1', memory: '256Mi' },
} as const;

/** /tmp for the sidecar: an emptyDir in memory would count against the memory limit, so disk, capped. */
const TMP_SIZE_LIMIT = '64Mi';

export interface SidecarOptions {
  image: string;
  imagePullPolicy?: PullPolicy;
  /** undefined: leave the UID to the platform (OpenShift's SCC) and the image. */
  runAsUser?: number;
  native: boolean;
  /** service.name of the sidecar's spans (workloadName), when known. */
  serviceName?: string;
  /** k8s.container.name of the sidecar's spans: the app container. */
  appContainer?: string;
}

export function sidecarSecurityContext(runAsUser: number | undefined, setGroup: boolean): SecurityContext {
  return {
    runAsNonRoot: true,
    ...(runAsUser === undefined ? {} : { runAsUser }),
    ...(runAsUser !== undefined && setGroup ? { runAsGroup: runAsUser } : {}),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function resources(policy: AuditPolicy): { requests: Record<string, string | number>; limits: Record<string, string | number> } {
  const r = policy.spec.sidecar.resources;
  return {
    requests: { ...DEFAULT_RESOURCES.requests, ...(r?.requests ?? {}) },
    limits: { ...DEFAULT_RESOURCES.limits, ...(r?.limits ?? {}) },
  };
}

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

export function buildSidecarContainer(policy: AuditPolicy, opts: SidecarOptions & { setGroup: boolean }): Container {
  const admin = policy.spec.sidecar.ports.admin;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: admin, scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const storage = policy.spec.storage;
  const pullPolicy = policy.spec.sidecar.imagePullPolicy ?? opts.imagePullPolicy;
  return {
    name: SIDECAR_CONTAINER_NAME,
    image: policy.spec.sidecar.image ?? opts.image,
    ...(pullPolicy === undefined ? {} : { imagePullPolicy: pullPolicy }),
    args: ['proxy', '--config', `${CONFIG_MOUNT_DIR}/${CONFIG_FILE_KEY}`],
    // Native sidecar (KEP-753): an init container that keeps running; the kubelet starts the
    // app containers only after its startup probe passes and stops it after them.
    ...(opts.native ? { restartPolicy: 'Always' } : {}),
    ports: [{ name: 'llmaudit-admin', containerPort: admin, protocol: 'TCP' }],
    env: [
      // Downward API: the sidecar names its chain <namespace>/<pod>_<uid> and labels spans.
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_UID', 'metadata.uid'),
      fieldEnv('NODE_NAME', 'spec.nodeName'),
      // Span resource attributes the sidecar cannot look up itself (workload-identity.ts).
      ...(opts.serviceName === undefined ? [] : [{ name: 'LLMAUDIT_SERVICE_NAME', value: opts.serviceName }]),
      ...(opts.appContainer === undefined ? [] : [{ name: 'LLMAUDIT_APP_CONTAINER', value: opts.appContainer }]),
    ],
    resources: resources(policy),
    volumeMounts: [
      { name: VOLUME_NAMES.config, mountPath: CONFIG_MOUNT_DIR, readOnly: true },
      { name: VOLUME_NAMES.signing, mountPath: SIGNING_MOUNT_DIR, readOnly: true },
      { name: VOLUME_NAMES.log, mountPath: LOG_MOUNT_DIR, ...(storage.subPath === undefined ? {} : { subPath: storage.subPath }) },
      { name: VOLUME_NAMES.tmp, mountPath: '/tmp' },
      ...(redisSecret(policy) === undefined ? [] : [{ name: VOLUME_NAMES.redis, mountPath: REDIS_MOUNT_DIR, readOnly: true }]),
      ...(policy.spec.erase.tokenSecretRef === undefined ? [] : [{ name: VOLUME_NAMES.erase, mountPath: ERASE_MOUNT_DIR, readOnly: true }]),
    ],
    startupProbe: probe('/readyz', 1, 120),
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 3),
    securityContext: sidecarSecurityContext(opts.runAsUser, opts.setGroup),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/**
 * Volumes for the sidecar. The signing key's mode: a Secret volume's files belong to root, and
 * to the pod's fsGroup when it has one (kubelet SetVolumeOwnership). With an fsGroup the key is
 * 0440 (owner and fsGroup, which the sidecar has as a supplementary group). Without one a
 * non-root process can read it only through "other", so 0444 — the volume is mounted in the
 * sidecar container alone, so no other container's processes see it.
 * https://kubernetes.io/docs/concepts/configuration/secret/#secret-files-permissions,
 * https://github.com/kubernetes/kubernetes/issues/57923
 */
export function buildSidecarVolumes(policy: AuditPolicy, podHasFsGroup: boolean): Volume[] {
  const names = policyResourceNames(policy.metadata.name ?? '');
  const signing = policy.spec.signing.secretRef;
  const mode = podHasFsGroup ? 0o440 : 0o444;
  const storage = policy.spec.storage;
  return [
    { name: VOLUME_NAMES.config, configMap: { name: names.configMap, defaultMode: 0o444 } },
    {
      name: VOLUME_NAMES.signing,
      secret: { secretName: signing?.name ?? names.signingSecret, defaultMode: mode, items: [{ key: signing?.key ?? SIGNING_FILE, path: SIGNING_FILE, mode }] },
    },
    { name: VOLUME_NAMES.log, persistentVolumeClaim: { claimName: storage.existingClaim ?? names.pvc } },
    { name: VOLUME_NAMES.tmp, emptyDir: { sizeLimit: TMP_SIZE_LIMIT } },
    ...redisVolume(policy, mode),
    ...eraseVolume(policy, mode),
  ];
}

/** The Redis password Secret of spec.governance.rateLimits.redis, if the policy names one. */
function redisSecret(policy: AuditPolicy): { name: string; key: string } | undefined {
  return (policy.spec.governance as Partial<typeof policy.spec.governance>).rateLimits?.redis?.passwordSecretRef;
}

/** The Redis password, mounted like the signing key (same file mode, this container only). */
function redisVolume(policy: AuditPolicy, mode: number): Volume[] {
  const ref = redisSecret(policy);
  if (ref === undefined) return [];
  return [{ name: VOLUME_NAMES.redis, secret: { secretName: ref.name, defaultMode: mode, items: [{ key: ref.key, path: REDIS_PASSWORD_FILE, mode }] } }];
}

/** The erase token of spec.erase.tokenSecretRef, mounted like the signing key (same file mode, this container only). */
function eraseVolume(policy: AuditPolicy, mode: number): Volume[] {
  const ref = policy.spec.erase.tokenSecretRef;
  if (ref === undefined) return [];
  return [{ name: VOLUME_NAMES.erase, secret: { secretName: ref.name, defaultMode: mode, items: [{ key: ref.key, path: ERASE_TOKEN_FILE, mode }] } }];
}
