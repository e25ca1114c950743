// infra/ is what a user applies to try llmaudit on kind: it must be valid Kubernetes, the demo's
// AuditPolicy must pass the operator's own validation and render a sidecar config the sidecar
// accepts, and the demo workload must be the shape the injection expects (an Ollama container).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseAuditPolicy } from '../../operator/src/api/index.ts';
import { renderSidecarConfig } from '../../operator/src/render/render-config.ts';
import { repoRoot, type K8sObject } from '../support/helm.ts';
import { validateK8sObject } from '../support/k8s-schema.ts';

const run = promisify(execFile);
const kubectl = path.join(repoRoot, '.tools/bin/kubectl');

function docs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path.join(repoRoot, file), 'utf8')).map((d) => d.toJS() as K8sObject);
}

describe('infra manifests', () => {
  it('kubectl kustomize builds the demo with the agent script in a ConfigMap', async () => {
    const { stdout } = await run(kubectl, ['kustomize', path.join(repoRoot, 'infra/demo')]);
    const objs = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
    expect(objs.map((o) => o.kind).sort()).toEqual(['AuditPolicy', 'ConfigMap', 'Deployment', 'Namespace']);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as any;
    expect(cm.data['agent.mjs']).toContain('get_weather');
    for (const o of objs) expect(validateK8sObject(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
  });

  it('the demo workload has an Ollama container for the port takeover and no llmaudit label yet', () => {
    const [deploy] = docs('infra/demo/chat.yaml') as any[];
    const images = deploy.spec.template.spec.containers.map((c: { image: string }) => c.image);
    expect(images.some((i: string) => i.startsWith('ollama/ollama:'))).toBe(true);
    expect(deploy.metadata.annotations?.['llmaudit.dev/inject']).toBeUndefined();
    expect(deploy.spec.template.metadata.labels['llmaudit.dev/inject']).toBeUndefined();
  });

  it('the demo AuditPolicy is valid and renders a config the sidecar accepts', () => {
    const policy = parseAuditPolicy({ ...(docs('infra/demo/auditpolicy.yaml')[0] as object), metadata: { name: 'demo', namespace: 'demo' } });
    const cfg = renderSidecarConfig(policy);
    expect(cfg.endpoints.map((e) => e.name)).toEqual(['ollama']);
    expect(cfg.listeners.some((l) => l.port === 11434 && l.defaultEndpoint === 'ollama')).toBe(true);
    expect(cfg.telemetry.otlpEndpoint).toBe('http://jaeger.observability:4318');
  });

  it('Jaeger manifests validate and expose OTLP/HTTP on 4318', () => {
    const objs = docs('infra/jaeger/jaeger.yaml');
    for (const o of objs) expect(validateK8sObject(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'jaeger') as any;
    expect(svc.spec.ports).toContainEqual(expect.objectContaining({ port: 4318 }));
  });

  it('the kind cluster runs a Kubernetes version with native sidecars', () => {
    const cluster = parse(readFileSync(path.join(repoRoot, 'infra/kind/cluster.yaml'), 'utf8')) as any;
    const minor = Number(/kindest\/node:v1\.(\d+)/.exec(cluster.nodes[0].image)?.[1]);
    expect(minor).toBeGreaterThanOrEqual(29);
  });
});
