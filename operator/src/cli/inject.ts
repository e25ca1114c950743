/**
 * `llmaudit-operator inject -f FILE|- [--policy p.yaml] [--sidecar-image IMG]
 *   [--sidecar-image-pull-policy P] [--kube-version 1.29] [--openshift]`
 * YAML in (a file, or stdin with `-`), YAML out on stdout; a summary on stderr.
 * `kubectl get deploy chat -o yaml | llmaudit-operator inject -f - --policy policy.yaml | kubectl apply -f -`
 */
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { commonError, isLlmauditError } from '@llmaudit/sidecar/errors';
import operatorPackage from '../../package.json' with { type: 'json' };
import { operatorError } from '../errors.ts';
import { injectManifest, policiesIn } from '../inject/inject-manifest.ts';
import type { ClusterInfo } from '../inject/inject-sidecar.ts';
import type { PullPolicy } from '../inject/sidecar-container.ts';

export const DEFAULT_SIDECAR_IMAGE = `ghcr.io/llmaudit/sidecar:${operatorPackage.version}`;
/** Offline there is no API server to ask: assume one with native sidecars unless told otherwise. */
export const DEFAULT_KUBE_VERSION = '1.29';

export interface InjectIo {
  /** Arguments after `inject`. */
  argv: string[];
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  readFile?: (path: string) => Promise<string>;
}

const USAGE = 'usage: llmaudit-operator inject -f FILE|- [--policy FILE] [--sidecar-image IMAGE] [--sidecar-image-pull-policy Always|IfNotPresent|Never] [--kube-version MAJOR.MINOR] [--openshift]\n';

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Returns the exit code: 0 done, 1 bad usage, an unreadable or invalid manifest or policy. */
export async function runInject(io: InjectIo): Promise<number> {
  const read = io.readFile ?? ((p: string) => readFile(p, 'utf8'));
  try {
    const { values } = parseArgs({
      args: io.argv,
      options: {
        filename: { type: 'string', short: 'f' },
        policy: { type: 'string', multiple: true },
        'sidecar-image': { type: 'string' },
        'sidecar-image-pull-policy': { type: 'string' },
        'kube-version': { type: 'string' },
        openshift: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (values.filename === undefined) throw commonError('LLMAUDIT_E_USAGE', '-f FILE (or -f - for stdin) is required');
    const version = /^(\d+)\.(\d+)/.exec(values['kube-version'] ?? DEFAULT_KUBE_VERSION);
    if (version === null) throw commonError('LLMAUDIT_E_USAGE', '--kube-version must look like 1.29');
    const pull = values['sidecar-image-pull-policy'];
    const readInput = async (p: string): Promise<string> => {
      try {
        return p === '-' ? await readAll(io.stdin) : await read(p);
      } catch (err) {
        throw operatorError('LLMAUDIT_E_MANIFEST_INVALID', `cannot read ${p}: ${(err as Error).message}`, { cause: err });
      }
    };
    if (pull !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(pull)) throw commonError('LLMAUDIT_E_USAGE', '--sidecar-image-pull-policy must be Always, IfNotPresent or Never');
    const policies = [];
    for (const p of values.policy ?? []) policies.push(...policiesIn(await readInput(p)));
    const input = await readInput(values.filename);
    // No cluster to ask offline: the manifest itself may show OpenShift, as discovery does for the webhook.
    const evidence = values.openshift === true ? undefined : openShiftEvidence(input);
    if (evidence !== undefined) io.stderr.write(`OpenShift detected (${evidence}): the sidecar reuses the pod's UID\n`);
    const cluster: ClusterInfo = {
      serverVersion: { major: version[1] as string, minor: version[2] as string },
      openshift: values.openshift === true || evidence !== undefined,
      sidecarImage: values['sidecar-image'] ?? DEFAULT_SIDECAR_IMAGE,
      ...(pull === undefined ? {} : { sidecarImagePullPolicy: pull as PullPolicy }),
    };
    const result = injectManifest(input, { policies, cluster });
    io.stdout.write(result.text);
    for (const w of result.injected) io.stderr.write(`${w} injected\n`);
    for (const w of result.skipped) io.stderr.write(`skipped ${w}\n`);
    return 0;
  } catch (err) {
    if (isLlmauditError(err)) {
      io.stderr.write(`llmaudit-operator inject: ${err.code}: ${err.message}\n`);
      if (err.code === 'LLMAUDIT_E_USAGE') io.stderr.write(USAGE);
      return err.exitCode;
    }
    if (err instanceof TypeError && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`llmaudit-operator inject: LLMAUDIT_E_USAGE: ${err.message}\n${USAGE}`);
      return 1;
    }
    throw err;
  }
}

interface Manifest {
  kind?: unknown;
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: unknown;
}

interface PodShape {
  metadata?: { annotations?: Record<string, string> };
  spec?: { securityContext?: { runAsUser?: number }; containers?: { securityContext?: { runAsUser?: number } }[]; initContainers?: { securityContext?: { runAsUser?: number } }[] };
}

const SCC_ANNOTATION = 'openshift.io/scc';
const UID_RANGE_ANNOTATION = 'openshift.io/sa.scc.uid-range';

/** The pod, or a workload's pod template (CronJob: its job's). */
function podOf(doc: Manifest): PodShape | undefined {
  if (doc.kind === 'Pod') return doc as PodShape;
  const spec = doc.spec as { template?: PodShape; jobTemplate?: { spec?: { template?: PodShape } } } | undefined;
  return spec?.template ?? spec?.jobTemplate?.spec?.template;
}

/**
 * Why the manifest looks like it comes from OpenShift, or undefined. Evidence, in the pods
 * themselves: the `openshift.io/scc` annotation OpenShift's SCC admission puts on every pod it
 * admits (so on pods exported with `oc get pod -o yaml`), or a runAsUser inside the UID range
 * OpenShift assigned to the pod's namespace (`openshift.io/sa.scc.uid-range: start/size`), when
 * that Namespace is part of the input.
 */
export function openShiftEvidence(text: string): string | undefined {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return undefined;
  const objects = docs.map((d) => (d.errors.length > 0 ? null : (d.toJS() as Manifest | null))).filter((o): o is Manifest => o !== null && typeof o === 'object');
  const ranges = new Map<string, { start: number; size: number }>();
  for (const o of objects) {
    const m = /^(\d+)\/(\d+)$/.exec(o.kind === 'Namespace' ? (o.metadata?.annotations?.[UID_RANGE_ANNOTATION] ?? '') : '');
    if (m !== null && o.metadata?.name !== undefined) ranges.set(o.metadata.name, { start: Number(m[1]), size: Number(m[2]) });
  }
  for (const o of objects) {
    const pod = podOf(o);
    if (pod === undefined) continue;
    const what = `${String(o.kind)}/${o.metadata?.name ?? '(unnamed)'}`;
    const scc = pod.metadata?.annotations?.[SCC_ANNOTATION];
    if (scc !== undefined) return `${what}: ${SCC_ANNOTATION}=${scc}`;
    const range = ranges.get(o.metadata?.namespace ?? '');
    if (range === undefined) continue;
    const uids = [pod.spec?.securityContext?.runAsUser, ...[...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.securityContext?.runAsUser)];
    const inRange = uids.find((u) => u !== undefined && u >= range.start && u < range.start + range.size);
    if (inRange !== undefined) return `${what}: UID ${inRange} in namespace ${o.metadata?.namespace ?? ''}'s ${UID_RANGE_ANNOTATION}`;
  }
  return undefined;
}
