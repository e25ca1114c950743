// The witnessed heads of one AuditPolicy's logs: what the witness remembers per origin (C2SP
// tlog-witness: "the latest checkpoint it observed and verified"), kept in the ConfigMap
// `llmaudit-<policy>-heads` (key heads.json) in the policy's namespace (docs/adr/0016-witnessed-heads-configmap.md).
import type { KubeObject } from '../kube/types.ts';

export const HEADS_KEY = 'heads.json';
export const LABEL_HEADS = 'llmaudit.dev/witness-heads';
/** Previous heads kept per chain: a late retry of one of them is a replay, not a rollback. */
export const RECENT_HEADS = 4;

export const headsConfigMapName = (policy: string): string => `llmaudit-${policy}-heads`;

/** Why a push was refused as evidence against the log (tlog-witness: "proof of log misbehavior"). */
export type RefusalKind = 'rollback' | 'fork' | 'inconsistent';

export interface Refusal {
  kind: RefusalKind;
  /** RFC 3339. */
  time: string;
  /** Size of the refused checkpoint. */
  size: number;
  /** Base64 root hash of the refused checkpoint. */
  rootHash: string;
  message: string;
}

export interface WitnessedHead {
  origin: string;
  size: number;
  /** Base64 root hash (as in the checkpoint's third line). */
  rootHash: string;
  /** RFC 3339 time the witness cosigned it. */
  time: string;
  /** Pod name and UID from an origin llmaudit.dev/<namespace>/<pod>/<uid>; empty when the origin has another form. */
  pod: string;
  podUid: string;
  policy: string;
  /** Earlier heads of this chain, newest first (size and root), at most RECENT_HEADS. */
  recent: { size: number; rootHash: string }[];
  /** The witnessed checkpoint as a signed note with the witness's cosignature: what an auditor checks a log against (llmaudit verify --since). */
  checkpoint?: string;
  /** The newest refused push, kept until the policy is deleted: an inconsistency is never forgotten. */
  refused?: Refusal;
}

export type Heads = Record<string, WitnessedHead>;

export function podOfOrigin(origin: string): { pod: string; podUid: string } {
  const m = /^llmaudit\.dev\/[^/]+\/([^/]+)\/([^/]+)$/.exec(origin);
  return m === null ? { pod: '', podUid: '' } : { pod: m[1] as string, podUid: m[2] as string };
}

/** Heads from a ConfigMap (undefined, or unreadable data: none). */
export function readHeads(cm: KubeObject | undefined): Heads {
  const text = (cm?.data as Record<string, string> | undefined)?.[HEADS_KEY];
  if (text === undefined) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Heads) : {};
  } catch {
    return {};
  }
}

/** One origin per line, sorted: a diff of the ConfigMap shows which chains moved. */
export function formatHeads(heads: Heads): string {
  const keys = Object.keys(heads).sort();
  if (keys.length === 0) return '{}\n';
  return `{\n${keys.map((k) => `  ${JSON.stringify(k)}: ${JSON.stringify(heads[k])}`).join(',\n')}\n}\n`;
}
