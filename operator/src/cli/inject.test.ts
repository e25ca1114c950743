import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough, Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runInject } from './inject.ts';
import { runCrd } from './crd.ts';
import { auditPolicyCrd } from '../api/crd.ts';
import type { PodLike } from '../inject/pod-types.ts';

const file = (name: string) => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));
const APP = readFileSync(file('app.yaml'), 'utf8');
const POLICY = readFileSync(file('policy.yaml'), 'utf8');

async function inject(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runInject({ argv, stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);
const sidecar = (spec: PodLike['spec']) => [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === 'llmaudit');

describe('llmaudit-operator inject', () => {
  it('injects every pod template of a multi-document manifest and leaves the rest alone', async () => {
    const { code, out, err } = await inject(['-f', file('app.yaml'), '--policy', file('policy.yaml'), '--sidecar-image', 'registry.local/sidecar:dev']);
    expect(code).toBe(0);
    const before = docsOf(APP);
    const after = docsOf(out);
    expect(after.map((d) => d.kind)).toEqual(['Service', 'Deployment', 'StatefulSet', 'CronJob', 'ConfigMap']);
    expect(after[0]).toEqual(before[0]);
    expect(after[4]).toEqual(before[4]);

    const dep = after[1]!.spec.template as PodLike;
    expect(sidecar(dep.spec)).toMatchObject({ image: 'registry.local/sidecar:dev', restartPolicy: 'Always' });
    expect(dep.metadata?.annotations?.['llmaudit.dev/injected']).toBe('default');
    expect(dep.metadata?.labels).toEqual({ app: 'chat', 'llmaudit.dev/inject': 'true', 'llmaudit.dev/policy': 'default' });
    expect(dep.spec.containers[0]!.env).toEqual([{ name: 'LOG_LEVEL', value: 'info' }, { name: 'OPENAI_BASE_URL', value: 'http://127.0.0.1:15080/openai' }, { name: 'OLLAMA_HOST', value: 'http://127.0.0.1:11434' }]);
    // Outside the pod template nothing changes.
    expect({ ...after[1], spec: { ...after[1]!.spec, template: undefined } }).toEqual({ ...before[1], spec: { ...before[1]!.spec, template: undefined } });

    const sts = after[2]!.spec.template as PodLike;
    expect(sts.spec.containers.find((c) => c.name === 'ollama')!.env).toEqual([{ name: 'OLLAMA_HOST', value: '127.0.0.1:11435' }]);
    const job = after[3]!.spec.jobTemplate.spec.template as PodLike;
    expect(sidecar(job.spec)).toBeDefined();
    expect(err).toBe('Deployment/chat injected\nStatefulSet/ollama injected\nCronJob/nightly-eval injected\n');
  });

  it('keeps comments', async () => {
    const { out } = await inject(['-f', file('app.yaml'), '--policy', file('policy.yaml')]);
    for (const c of ['# The chat app as a team keeps it in Git.', '# fronts the pods', '# the policy to record with', '# the selector label', '# pinned', '# untouched']) {
      expect(out).toContain(c);
    }
  });

  it('stdin to stdout; running it again changes nothing', async () => {
    const once = await inject(['-f', '-', '--policy', file('policy.yaml')], APP);
    expect(once.code).toBe(0);
    const twice = await inject(['-f', '-', '--policy', file('policy.yaml')], once.out);
    expect(twice.code).toBe(0);
    expect(docsOf(twice.out)).toEqual(docsOf(once.out));
    expect(twice.err).toContain('skipped Deployment/chat: already injected');
  });

  it('takes the policy from the manifest itself; older clusters get a regular container', async () => {
    const { code, out } = await inject(['-f', '-', '--kube-version', '1.28'], `${POLICY}---\n${APP}`);
    expect(code).toBe(0);
    const dep = docsOf(out).find((d) => d.kind === 'Deployment')!.spec.template as PodLike;
    expect(dep.spec.initContainers).toBeUndefined();
    expect(dep.spec.containers.at(-1)!.name).toBe('llmaudit');
    expect(docsOf(out)[0]!.kind).toBe('AuditPolicy');
  });

  it('detects OpenShift from a pod SCC admitted (openshift.io/scc): the sidecar reuses the pod\'s UID', async () => {
    const pod = readFileSync(fileURLToPath(new URL('../inject/testdata/openshift-assigned-uid.yaml', import.meta.url)), 'utf8');
    const { code, out, err } = await inject(['-f', '-', '--policy', file('policy.yaml')], pod);
    expect(code).toBe(0);
    expect(err).toContain('OpenShift detected (Pod/(unnamed): openshift.io/scc=restricted-v2)');
    const injected = docsOf(out)[0] as PodLike;
    expect(sidecar(injected.spec)?.securityContext?.runAsUser).toBe(1000680000);
    // The same pod without the annotation, and without --openshift, is treated as plain Kubernetes.
    const plain = await inject(['-f', '-', '--policy', file('policy.yaml')], pod.replace('annotations: { openshift.io/scc: restricted-v2 }', 'annotations: {}'));
    expect(plain.err).not.toContain('OpenShift detected');
    expect(sidecar((docsOf(plain.out)[0] as PodLike).spec)?.securityContext?.runAsUser).not.toBe(1000680000);
  });

  it('detects OpenShift from a UID inside the namespace\'s openshift.io/sa.scc.uid-range when the Namespace is in the input', async () => {
    const ns = (range: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: llm-venture\n  annotations: { openshift.io/sa.scc.uid-range: ${range} }\n`;
    const dep = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: chat, namespace: llm-venture }',
      'spec:',
      '  selector: { matchLabels: { app: chat } }',
      '  template:',
      '    metadata: { labels: { app: chat } }',
      '    spec:',
      '      containers: [{ name: app, image: app:1, securityContext: { runAsUser: 1000680000 } }]',
      '',
    ].join('\n');
    const inRange = await inject(['-f', '-', '--policy', file('policy.yaml')], `${ns('1000680000/10000')}---\n${dep}`);
    expect(inRange.code).toBe(0);
    expect(inRange.err).toContain("OpenShift detected (Deployment/chat: UID 1000680000 in namespace llm-venture's openshift.io/sa.scc.uid-range)");
    const tmpl = docsOf(inRange.out)[1]!.spec.template as PodLike;
    expect(sidecar(tmpl.spec)?.securityContext?.runAsUser).toBe(1000680000);
    const outOfRange = await inject(['-f', '-', '--policy', file('policy.yaml')], `${ns('1000700000/10000')}---\n${dep}`);
    expect(outOfRange.err).not.toContain('OpenShift detected');
  });

  it('fails clearly: no policy, unknown flag, missing -f, bad YAML, invalid policy', async () => {
    const noPolicy = await inject(['-f', '-'], APP);
    expect(noPolicy.code).toBe(1);
    expect(noPolicy.err).toMatch(/LLMAUDIT_E_POLICY_NOT_FOUND/);
    expect((await inject(['-f', '-', '--bogus'], APP)).err).toMatch(/LLMAUDIT_E_USAGE/);
    expect((await inject([], APP)).err).toMatch(/-f FILE/);
    const bad = await inject(['-f', '-', '--policy', file('policy.yaml')], 'a: [unclosed\n');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/LLMAUDIT_E_MANIFEST_INVALID/);
    const invalid = await inject(['-f', '-'], `${POLICY.replace('api: openai', 'api: gopher')}---\n${APP}`);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/LLMAUDIT_E_POLICY_INVALID.*api/);
    expect(noPolicy.out).toBe('');
    const badPolicy = await inject(['-f', '-', '--policy', file('app.yaml').replace('app.yaml', 'nope.yaml')], APP);
    expect(badPolicy.err).toMatch(/^llmaudit-operator inject: LLMAUDIT_E_MANIFEST_INVALID: .*cannot read .*nope\.yaml.*\n$/);
  });
});

// The built binary (node hack/build.mjs; the test global setup runs it): the user's command line,
// stdin to stdout, exactly like `linkerd inject`.
const BIN = path.resolve(import.meta.dirname, '../../bin/llmaudit-operator.mjs');
function runBin(args: string[], stdin: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : Number(error.code), out, err });
    });
    child.stdin!.end(stdin);
  });
}

describe('the built llmaudit-operator binary', () => {
  it('inject -f - --policy p.yaml: stdin to stdout, same output as in-process, idempotent', async () => {
    // Each spawn loads the bundle and its dependencies (~1-2 s): independent runs go in parallel.
    const [viaBin, fromFile] = await Promise.all([
      runBin(['inject', '-f', '-', '--policy', file('policy.yaml')], APP),
      runBin(['inject', '-f', file('app.yaml'), '--policy', file('policy.yaml')], ''),
    ]);
    expect(viaBin.err).toBe('Deployment/chat injected\nStatefulSet/ollama injected\nCronJob/nightly-eval injected\n');
    expect(viaBin.code).toBe(0);
    expect(viaBin.out).toBe((await inject(['-f', '-', '--policy', file('policy.yaml')], APP)).out);
    const again = await runBin(['inject', '-f', '-', '--policy', file('policy.yaml')], viaBin.out);
    expect(again.code).toBe(0);
    expect(docsOf(again.out)).toEqual(docsOf(viaBin.out));
    expect(fromFile.out).toBe(viaBin.out);
  }, 120_000);

  it('crd and a usage error through the binary', async () => {
    const [crd, bad] = await Promise.all([runBin(['crd'], ''), runBin(['inject', '-f', '-'], APP)]);
    expect(crd.code).toBe(0);
    expect(docsOf(crd.out)[0]).toEqual(auditPolicyCrd());
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/LLMAUDIT_E_POLICY_NOT_FOUND/);
  }, 120_000);
});

describe('llmaudit-operator crd', () => {
  it('prints the generated CRD', () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    expect(runCrd(stdout)).toBe(0);
    expect(docsOf(out)[0]).toEqual(auditPolicyCrd());
  });
});
