/**
 * Every error llmaudit raises carries a stable code (docs/style-guide.md "Errors and configuration").
 * Callers match on `err.code`; wrapping uses `cause`. docs/errors.md documents every code and
 * `sidecar/src/errors.test.ts` keeps that table and the registries below in step.
 *
 * Each component declares its codes in its own registry object (auditlog, proxy, config, ...)
 * and lists it in ALL_ERROR_REGISTRIES; the operator adds its own in operator/src/errors.ts.
 */

export interface ErrorSpec {
  /** One line: what happened. */
  readonly message: string;
  /** Process exit status when this error ends a CLI command. */
  readonly exit?: number;
}

export type ErrorRegistry = Readonly<Record<string, ErrorSpec>>;

export class LlmauditError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; exit?: number; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LlmauditError';
    this.code = code;
    this.exitCode = options.exit ?? 1;
    this.details = options.details === undefined ? undefined : Object.freeze({ ...options.details });
  }
}

/** Builds a typed error factory for a registry: `errorFactory(AUDITLOG_ERRORS)(code, 'detail')`. */
export function errorFactory<R extends ErrorRegistry>(registry: R) {
  return (code: keyof R & string, detail?: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}): LlmauditError => {
    const spec = registry[code];
    if (spec === undefined) throw new Error(`unregistered error code ${code}`);
    const message = detail === undefined || detail === '' ? spec.message : `${spec.message}: ${detail}`;
    return new LlmauditError(code, message, { ...options, ...(spec.exit === undefined ? {} : { exit: spec.exit }) });
  };
}

export function isLlmauditError(err: unknown, code?: string): err is LlmauditError {
  return err instanceof LlmauditError && (code === undefined || err.code === code);
}

/** Codes that are not specific to one component. */
export const COMMON_ERRORS = {
  LLMAUDIT_E_USAGE: { message: 'invalid command-line usage', exit: 1 },
  LLMAUDIT_E_INTERNAL: { message: 'internal error (a bug: please report it with --debug output)', exit: 1 },
} as const satisfies ErrorRegistry;

export const commonError = errorFactory(COMMON_ERRORS);
