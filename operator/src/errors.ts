import { errorFactory, type ErrorRegistry } from '@llmaudit/sidecar/errors';

/** Operator error codes (webhook, controllers, inject CLI). docs/errors.md "Operator". */
export const OPERATOR_ERRORS = {} as const satisfies ErrorRegistry;
export const operatorError = errorFactory(OPERATOR_ERRORS);
