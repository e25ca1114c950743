// Every operator-side error registry, in one place, so docs/errors.md can be checked against it.
import type { ErrorRegistry } from '@llmaudit/sidecar/errors';
import { OPERATOR_ERRORS } from './errors.ts';

export const OPERATOR_ERROR_REGISTRIES: Readonly<Record<string, ErrorRegistry>> = {
  operator: OPERATOR_ERRORS,
};
