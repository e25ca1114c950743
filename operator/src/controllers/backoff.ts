export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/**
 * Capped exponential backoff with "equal jitter": half the step is fixed, half random, so retries
 * never fire immediately yet replicas restarting together spread out
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(step / 2 + random() * (step / 2));
}
