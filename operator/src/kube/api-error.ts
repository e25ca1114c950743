import { LlmauditError } from '@llmaudit/sidecar/errors';
import { OPERATOR_ERRORS } from '../errors.ts';

/**
 * A failed API call, carrying the HTTP status and the metav1.Status reason
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#api-status), so callers branch on
 * 404 / 409 / 410 without parsing messages.
 */
export class KubeApiError extends LlmauditError {
  readonly statusCode: number;
  readonly reason: string;

  constructor(statusCode: number, reason: string, detail: string, options: { cause?: unknown } = {}) {
    super('LLMAUDIT_E_KUBE_API', `${OPERATOR_ERRORS.LLMAUDIT_E_KUBE_API.message}: ${statusCode} ${reason}: ${detail}`, {
      ...options,
      details: { statusCode, reason },
    });
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

export function isStatus(err: unknown, statusCode: number): err is KubeApiError {
  return err instanceof KubeApiError && err.statusCode === statusCode;
}

export const isNotFound = (err: unknown): boolean => isStatus(err, 404);
export const isConflict = (err: unknown): boolean => isStatus(err, 409);
/** 410 Gone: the resourceVersion we asked for has been compacted away; relist. */
export const isGone = (err: unknown): boolean => isStatus(err, 410);
