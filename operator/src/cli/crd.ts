import type { Writable } from 'node:stream';
import { auditPolicyCrdYaml } from '../api/crd.ts';

/** `llmaudit-operator crd`: prints the generated AuditPolicy CRD (kubectl apply -f - friendly). Returns the exit code. */
export function runCrd(stdout: Writable): number {
  stdout.write(auditPolicyCrdYaml());
  return 0;
}
