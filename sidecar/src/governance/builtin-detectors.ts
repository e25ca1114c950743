/**
 * The names of the built-in detectors, apart from the TypeBox schema (schema.ts re-exports them):
 * the policy checks a config against this list on every start, and importing it from schema.ts
 * would load TypeBox and build the whole governance schema in every sidecar (docs/adr/0027).
 */
export const BUILTIN_DETECTORS = ['email', 'phone', 'card', 'iban', 'ssn', 'ipv4', 'ipv6', 'openai-key', 'anthropic-key', 'aws-key', 'github-token', 'jwt', 'private-key', 'high-entropy'] as const;
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];
