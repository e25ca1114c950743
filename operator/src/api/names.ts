/**
 * Names, labels and paths shared by the webhook, the controllers, the chart and the sidecar
 * (operator/CONTRACT.md). One place, so a rename cannot leave one side behind.
 */

export const LABEL_INJECT = 'llmaudit.dev/inject';
export const LABEL_POLICY = 'llmaudit.dev/policy';
/** Marker annotation on injected pods: its value is the policy name. */
export const ANNOTATION_INJECTED = 'llmaudit.dev/injected';
/** Annotation listing `container/ENV` pairs the injection left alone because the container set them. */
export const ANNOTATION_ENV_KEPT = 'llmaudit.dev/env-kept';

export const SIDECAR_CONTAINER_NAME = 'llmaudit';
export const CONFIG_MOUNT_DIR = '/etc/llmaudit/config';
export const CONFIG_FILE_KEY = 'config.yaml';
export const SIGNING_MOUNT_DIR = '/etc/llmaudit/signing';
export const SIGNING_FILE = 'signing.key';
/** Where the Redis password Secret of spec.governance.rateLimits.redis.passwordSecretRef is mounted. */
export const REDIS_MOUNT_DIR = '/etc/llmaudit/redis';
export const REDIS_PASSWORD_FILE = 'password';
/** Where the erase token Secret of spec.erase.tokenSecretRef is mounted. */
export const ERASE_MOUNT_DIR = '/etc/llmaudit/erase';
export const ERASE_TOKEN_FILE = 'token';
export const LOG_MOUNT_DIR = '/var/lib/llmaudit';
export const DEFAULT_RUN_AS_USER = 10001;

/** Volumes the injection adds to a pod. */
export const VOLUME_NAMES = {
  config: 'llmaudit-config',
  signing: 'llmaudit-signing',
  log: 'llmaudit-log',
  tmp: 'llmaudit-tmp',
  redis: 'llmaudit-redis',
  erase: 'llmaudit-erase',
} as const;

export interface PolicyResourceNames {
  configMap: string;
  signingSecret: string;
  pvc: string;
}

/** Objects the operator creates for a policy (owned by it). */
export function policyResourceNames(policyName: string): PolicyResourceNames {
  return {
    configMap: `llmaudit-${policyName}-config`,
    signingSecret: `llmaudit-${policyName}-signing`,
    pvc: `llmaudit-${policyName}-log`,
  };
}
