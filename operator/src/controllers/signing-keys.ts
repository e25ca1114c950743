import { generateSignerKey, parseSignerKey } from '@llmaudit/sidecar/auditlog';

/** Signed-note Ed25519 keys (C2SP signed-note), from the sidecar's own implementation. */
export const signingKeys = {
  /** `name` is the policy's key name in signed notes: llmaudit.dev/<namespace>/<policy>. */
  generateKey: (name: string): { signerKey: string; verifierKey: string } => generateSignerKey(name),
  /** The verifier key of a PRIVATE+KEY+... signer key; throws on anything else. */
  verifierKey: (signerKey: string): string => parseSignerKey(signerKey).verifierKey,
};
