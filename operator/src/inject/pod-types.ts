/**
 * The parts of core/v1 Pod that injection reads or writes, as plain JSON shapes. Every object
 * keeps unknown fields (index signature) so a pod passes through injection without losing any.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string; localhostProfile?: string };
  [field: string]: unknown;
}

export interface PodSecurityContext extends SecurityContext {
  fsGroup?: number;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  securityContext?: SecurityContext;
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface Volume {
  name: string;
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: PodSecurityContext;
  [field: string]: unknown;
}

export interface PodMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A Pod, or a pod template (metadata + spec): injection treats both alike. */
export interface PodLike {
  apiVersion?: string;
  kind?: string;
  metadata?: PodMeta;
  spec: PodSpec;
  [field: string]: unknown;
}
