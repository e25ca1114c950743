/**
 * Pure sidecar injection: `injectSidecar(pod, policy, cluster) → pod` (docs/style-guide.md "Functional
 * core"); the webhook and `llmaudit-operator inject` are thin shells around it. What changes in a
 * pod is listed in docs/operator.md "What injection changes".
 *
 * Idempotent: a pod carrying the marker annotation (or a container named llmaudit) comes back
 * unchanged, so the webhook's reinvocation (reinvocationPolicy: IfNeeded) and a second
 * `inject` run are no-ops.
 */
import type { AuditPolicy, EndpointSpec } from '../api/audit-policy.ts';
import { ANNOTATION_ENV_KEPT, ANNOTATION_INJECTED, DEFAULT_RUN_AS_USER, LABEL_INJECT, SIDECAR_CONTAINER_NAME, VOLUME_NAMES } from '../api/names.ts';
import { operatorError } from '../errors.ts';
import { takeOverBackendPort } from '../render/render-config.ts';
import { diffJson, type JsonPatchOp } from './json-patch.ts';
import type { Container, EnvVar, PodLike } from './pod-types.ts';
import { buildSidecarContainer, buildSidecarVolumes, type PullPolicy } from './sidecar-container.ts';
import { appContainerName, workloadName } from './workload-identity.ts';

export interface ClusterInfo {
  /** The API server's version (/version); minor may carry a suffix such as "29+" (EKS, GKE). */
  serverVersion: { major: string | number; minor: string | number };
  /** OpenShift: no fixed UID (the SCC assigned the pod's UID before webhooks ran). */
  openshift: boolean;
  /** Default sidecar image (spec.sidecar.image overrides it). */
  sidecarImage: string;
  sidecarImagePullPolicy?: PullPolicy;
}

/** Env variable an endpoint points at the sidecar by default, per API family. */
export const DEFAULT_ENV_BY_API: Readonly<Record<string, string | undefined>> = {
  openai: 'OPENAI_BASE_URL',
  'azure-openai': 'OPENAI_BASE_URL',
  vllm: 'OPENAI_BASE_URL',
  anthropic: 'ANTHROPIC_BASE_URL',
  ollama: 'OLLAMA_HOST',
};

/** Native sidecar containers are on by default from Kubernetes 1.29 (KEP-753, beta). */
export function supportsNativeSidecars(v: ClusterInfo['serverVersion']): boolean {
  const major = Number.parseInt(String(v.major), 10);
  const minor = Number.parseInt(String(v.minor), 10);
  if (Number.isNaN(major) || Number.isNaN(minor)) return false;
  return major > 1 || (major === 1 && minor >= 29);
}

export function isInjected(pod: PodLike): boolean {
  if (pod.metadata?.annotations?.[ANNOTATION_INJECTED] !== undefined) return true;
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.name === SIDECAR_CONTAINER_NAME);
}

/** The image is Ollama's official one (docker.io/ollama/ollama, any tag or digest). */
export function isOllamaImage(image: string | undefined): boolean {
  return image !== undefined && /(^|\/)ollama\/ollama(:|@|$)/.test(image);
}

/**
 * The UID the sidecar runs as. OpenShift's restricted SCC assigns each pod a UID from the
 * namespace's range at admission, before webhooks run, and rejects any other: reuse the one the
 * pod or its containers already carry (none found: leave it unset for the SCC to fill).
 * https://docs.openshift.com/container-platform/latest/authentication/managing-security-context-constraints.html
 */
export function chooseRunAsUser(pod: PodLike, openshift: boolean): number | undefined {
  if (!openshift) return DEFAULT_RUN_AS_USER;
  const podUid = pod.spec.securityContext?.runAsUser;
  if (podUid !== undefined) return podUid;
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    if (c.securityContext?.runAsUser !== undefined) return c.securityContext.runAsUser;
  }
  return undefined;
}

/** The URL (or host) an app container uses to reach this endpoint through the sidecar. */
export function sidecarUrl(ep: EndpointSpec, proxyPort: number): string {
  if (ep.takeOverPort !== undefined) return `http://127.0.0.1:${ep.takeOverPort}`;
  if (ep.port !== undefined) return `http://127.0.0.1:${ep.port}`;
  return `http://127.0.0.1:${proxyPort}${ep.pathPrefix ?? `/${ep.name}`}`;
}

function setEnv(c: Container, name: string, value: string): void {
  const env = c.env ?? [];
  const i = env.findIndex((e) => e.name === name);
  if (i >= 0) env[i] = { name, value };
  else env.push({ name, value });
  c.env = env;
}

function findTakeOverTarget(pod: PodLike, ep: EndpointSpec): Container | undefined {
  if (ep.takeOverContainer !== undefined) return pod.spec.containers.find((c) => c.name === ep.takeOverContainer);
  return pod.spec.containers.find((c) => isOllamaImage(c.image));
}

/** Points each app container at the sidecar; returns the `container/ENV` pairs left as the user set them. */
function pointAppsAtSidecar(pod: PodLike, policy: AuditPolicy, moved: Set<Container>): string[] {
  const kept: string[] = [];
  for (const ep of policy.spec.endpoints) {
    if (ep.takeOverPort === undefined) continue;
    const target = findTakeOverTarget(pod, ep);
    if (target === undefined) continue;
    // The takeover needs the server off the port, so this one always overrides.
    setEnv(target, 'OLLAMA_HOST', `127.0.0.1:${takeOverBackendPort(ep)}`);
    moved.add(target);
  }
  const claimed = new Set<string>();
  for (const ep of policy.spec.endpoints) {
    const name = ep.env ?? DEFAULT_ENV_BY_API[ep.api];
    // First endpoint wins a shared default name (two openai endpoints: the first gets OPENAI_BASE_URL).
    if (name === undefined || name === '' || claimed.has(name)) continue;
    claimed.add(name);
    const value = sidecarUrl(ep, policy.spec.sidecar.ports.proxy);
    for (const c of pod.spec.containers) {
      if (moved.has(c)) continue;
      const existing = (c.env ?? []).find((e: EnvVar) => e.name === name);
      if (existing !== undefined && !ep.overrideEnv) {
        if (existing.value !== value) kept.push(`${c.name}/${name}`);
        continue;
      }
      setEnv(c, name, value);
    }
  }
  return kept;
}

/** Returns the injected copy of `pod` (or `pod` itself, unchanged, when already injected). */
export function injectSidecar<P extends PodLike>(pod: P, policy: AuditPolicy, cluster: ClusterInfo): P {
  if (isInjected(pod)) return pod;
  const out = structuredClone(pod);
  const spec = out.spec;
  const taken = new Set([...(spec.volumes ?? []).map((v) => v.name)]);
  for (const v of Object.values(VOLUME_NAMES)) {
    if (taken.has(v)) throw operatorError('LLMAUDIT_E_INJECT_FAILED', `the pod already has a volume named ${v}`);
  }
  const native = supportsNativeSidecars(cluster.serverVersion);
  const runAsUser = chooseRunAsUser(pod, cluster.openshift);
  const moved = new Set<Container>();
  const kept = pointAppsAtSidecar(out, policy, moved);
  const serviceName = policy.spec.telemetry.serviceName ?? workloadName(pod);
  const appContainer = appContainerName(out, new Set([...moved].map((c) => c.name)));
  const sidecar = buildSidecarContainer(policy, {
    image: cluster.sidecarImage,
    ...(cluster.sidecarImagePullPolicy === undefined ? {} : { imagePullPolicy: cluster.sidecarImagePullPolicy }),
    ...(runAsUser === undefined ? {} : { runAsUser }),
    native,
    ...(serviceName === null ? {} : { serviceName }),
    ...(appContainer === null ? {} : { appContainer }),
    // On OpenShift the SCC owns the GID too (pod fsGroup / supplemental groups).
    setGroup: !cluster.openshift,
  });
  // Native: first init container, so it is up before other init containers and the app.
  if (native) spec.initContainers = [sidecar, ...(spec.initContainers ?? [])];
  else spec.containers.push(sidecar);
  spec.volumes = [...(spec.volumes ?? []), ...buildSidecarVolumes(policy, spec.securityContext?.fsGroup !== undefined)];
  const meta = (out.metadata ??= {});
  meta.annotations = { ...(meta.annotations ?? {}), [ANNOTATION_INJECTED]: policy.metadata.name ?? '' };
  if (kept.length > 0) meta.annotations[ANNOTATION_ENV_KEPT] = kept.join(',');
  // Pods injected through the namespace-wide webhook carry no opt-in label; the operator counts
  // pods by that label (a label-selected watch), so every injected pod gets it.
  if (meta.labels?.[LABEL_INJECT] !== 'true') meta.labels = { ...(meta.labels ?? {}), [LABEL_INJECT]: 'true' };
  return out;
}

/** The injected pod and the JSON Patch from `pod` to it (empty when nothing changes). */
export function injectionPatch<P extends PodLike>(pod: P, policy: AuditPolicy, cluster: ClusterInfo): { pod: P; patch: JsonPatchOp[] } {
  const injected = injectSidecar(pod, policy, cluster);
  return { pod: injected, patch: injected === pod ? [] : diffJson(pod, injected) };
}
