import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseSidecarConfig, type SidecarConfig } from '@llmaudit/sidecar/config';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { auditPolicySchema } from '../api/crd.ts';
import { parseAuditPolicy } from '../api/parse-policy.ts';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { renderConfigMapData, renderSidecarConfig } from './render-config.ts';

/** Every spec field set to a value that differs from its default. */
const FULL = parseAuditPolicy({
  apiVersion: 'llmaudit.dev/v1alpha1',
  kind: 'AuditPolicy',
  metadata: { name: 'full', namespace: 'team-a' },
  spec: {
    endpoints: [
      { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai', pathPrefix: '/oai', port: 15081, env: 'MY_OPENAI_URL', overrideEnv: true },
      { name: 'ollama', api: 'ollama', takeOverPort: 11434, takeOverBackendPort: 11500, takeOverContainer: 'llm' },
    ],
    capture: { mode: 'redacted', redactHeaders: ['x-tenant-token'], maxBodyBytes: 2048, maxDecodedBytes: 4096, mediaThresholdBytes: 1000 },
    log: { durability: 'strict', onLogFailure: 'allow', segmentMaxBytes: 8192, segmentMaxAgeSeconds: 60, checkpointIntervalSeconds: 5, signEntries: false, retention: { maxAgeDays: 30, maxTotalBytes: '5Gi', mode: 'delete-segments' } },
    storage: { create: { size: '2Gi', storageClassName: 'fast', accessModes: ['ReadWriteMany'] }, subPath: 'logs' },
    telemetry: { otlpEndpoint: 'http://jaeger:4318', samplingRatio: 0.25, captureContent: true, serviceName: 'chat' },
    signing: { secretRef: { name: 'my-key', key: 'k' } },
    erase: { tokenSecretRef: { name: 'erase-auth', key: 't' } },
    sidecar: { image: 'registry/llmaudit-sidecar:1', imagePullPolicy: 'Always', resources: { requests: { cpu: '10m' }, limits: { memory: '1Gi' } }, ports: { proxy: 16000, admin: 9191 } },
    governance: { models: { deny: ['gpt-3*'] } },
  },
});

type Check = (cfg: SidecarConfig, p: AuditPolicy) => boolean;
const ep0 = (p: AuditPolicy) => p.spec.endpoints[0]!;
const ep1 = (p: AuditPolicy) => p.spec.endpoints[1]!;

/** Spec fields that reach the sidecar config, and where. */
const IN_CONFIG: Record<string, Check> = {
  '.endpoints[].name': (c, p) => c.endpoints.map((e) => e.name).join() === p.spec.endpoints.map((e) => e.name).join(),
  '.endpoints[].upstream': (c, p) => c.endpoints[0]!.upstream === ep0(p).upstream,
  '.endpoints[].api': (c) => c.endpoints[0]!.api === 'openai' && c.endpoints[1]!.api === 'ollama',
  '.endpoints[].pathPrefix': (c) => c.endpoints[0]!.pathPrefix === '/oai',
  '.endpoints[].port': (c, p) => c.listeners.some((l) => l.port === ep0(p).port && l.defaultEndpoint === 'openai' && l.address === '127.0.0.1'),
  '.endpoints[].takeOverPort': (c) => c.listeners.some((l) => l.port === 11434 && l.defaultEndpoint === 'ollama' && l.address === '0.0.0.0'),
  '.endpoints[].takeOverBackendPort': (c) => c.endpoints[1]!.upstream === 'http://127.0.0.1:11500',
  '.capture.mode': (c) => c.capture.mode === 'redacted',
  '.capture.redactHeaders': (c) => c.capture.redactHeaders.join() === 'x-tenant-token',
  '.capture.maxBodyBytes': (c) => c.capture.maxBodyBytes === 2048,
  '.capture.maxDecodedBytes': (c) => c.capture.maxDecodedBytes === 4096,
  '.capture.mediaThresholdBytes': (c) => c.capture.mediaThresholdBytes === 1000,
  '.log.durability': (c) => c.log.durability === 'strict',
  '.log.onLogFailure': (c) => c.log.onLogFailure === 'allow',
  '.log.segmentMaxBytes': (c) => c.log.segmentMaxBytes === 8192,
  '.log.segmentMaxAgeSeconds': (c) => c.log.segmentMaxAgeSeconds === 60,
  '.log.checkpointIntervalSeconds': (c) => c.log.checkpointIntervalSeconds === 5,
  '.log.signEntries': (c) => c.log.signEntries === false,
  '.log.retention.maxAgeDays': (c) => c.log.retention.maxAgeDays === 30,
  '.log.retention.maxTotalBytes': (c) => c.log.retention.maxTotalBytes === 5 * 2 ** 30,
  '.log.retention.mode': (c) => c.log.retention.mode === 'delete-segments',
  '.telemetry.otlpEndpoint': (c) => c.telemetry.otlpEndpoint === 'http://jaeger:4318',
  '.telemetry.samplingRatio': (c) => c.telemetry.samplingRatio === 0.25,
  '.telemetry.captureContent': (c) => c.telemetry.captureContent,
  '.telemetry.serviceName': (c) => c.telemetry.serviceName === 'chat',
  '.sidecar.ports.proxy': (c) => c.listeners[0]!.port === 16000,
  '.sidecar.ports.admin': (c) => c.admin.port === 9191,
  '.erase.tokenSecretRef.name': (c) => c.admin.eraseTokenFile === '/etc/llmaudit/erase/token',
  '.governance': (c) => c.governance.models.deny.join() === 'gpt-3*',
};

/** Spec fields that shape the pod or the controllers instead (inject-sidecar.test.ts covers them). */
const ELSEWHERE = new Set([
  '.endpoints[].takeOverContainer', '.endpoints[].env', '.endpoints[].overrideEnv',
  '.storage.existingClaim', '.storage.create.size', '.storage.create.storageClassName', '.storage.create.accessModes', '.storage.subPath',
  '.signing.secretRef.name', '.signing.secretRef.key', '.erase.tokenSecretRef.key',
  '.sidecar.image', '.sidecar.imagePullPolicy', '.sidecar.resources.requests', '.sidecar.resources.limits',
]);

function leafPaths(schema: Record<string, unknown>, path = ''): string[] {
  // The governance section is the sidecar's own schema and passes to its config whole.
  if (schema['x-kubernetes-preserve-unknown-fields'] === true || path === '.governance') return [path];
  const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
  if (props !== undefined) return Object.entries(props).flatMap(([k, v]) => leafPaths(v, `${path}.${k}`));
  const items = schema.items as Record<string, unknown> | undefined;
  if (items?.properties !== undefined) return leafPaths(items, `${path}[]`);
  return [path];
}

describe('renderSidecarConfig', () => {
  it('every spec field reaches the sidecar config or is accounted for elsewhere', () => {
    const spec = (auditPolicySchema().properties as Record<string, Record<string, unknown>>).spec!;
    const leaves = leafPaths(spec);
    const unaccounted = leaves.filter((l) => !(l in IN_CONFIG) && !ELSEWHERE.has(l));
    expect(unaccounted).toEqual([]);
    const cfg = renderSidecarConfig(FULL);
    const notReached = Object.entries(IN_CONFIG).filter(([, check]) => !check(cfg, FULL)).map(([k]) => k);
    expect(notReached).toEqual([]);
  });

  it('a minimal policy renders a config the sidecar accepts, with the pod mount paths', () => {
    const p = parseAuditPolicy({ apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'min', namespace: 'n' }, spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] } });
    const cfg = renderSidecarConfig(p, { witnessUrl: 'http://llmaudit-witness.llmaudit:8444' });
    expect(cfg.listeners).toEqual([{ address: '127.0.0.1', port: 15080 }]);
    expect(cfg.log.dir).toBe('/var/lib/llmaudit');
    expect(cfg.log.keyFile).toBe('/etc/llmaudit/signing/signing.key');
    expect(cfg.admin).toEqual({ address: '0.0.0.0', port: 9090 });
    expect(cfg.witness.url).toBe('http://llmaudit-witness.llmaudit:8444');
    expect(cfg.policy).toBe('min');
  });

  it('a Redis password Secret becomes the file the sidecar reads it from', () => {
    const spec = { ...FULL.spec, governance: { rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 60 }], redis: { url: 'redis://redis:6379', passwordSecretRef: { name: 'redis-auth', key: 'pw' } } } } };
    const cfg = renderSidecarConfig(parseAuditPolicy({ ...FULL, spec }));
    expect(cfg.governance.rateLimits.redis).toEqual({ url: 'redis://redis:6379', passwordFile: '/etc/llmaudit/redis/password', keyPrefix: 'llmaudit:', timeoutMs: 50, onUnavailable: 'allow' });
  });

  it('an erase token Secret becomes admin.eraseTokenFile; without one the sidecar serves no erase endpoint', () => {
    expect(renderSidecarConfig(FULL).admin).toEqual({ address: '0.0.0.0', port: 9191, eraseTokenFile: '/etc/llmaudit/erase/token' });
    const { erase: _erase, ...spec } = FULL.spec;
    const cfg = renderSidecarConfig(parseAuditPolicy({ ...FULL, spec }));
    expect(cfg.admin.eraseTokenFile).toBeUndefined();
  });

  it('the ConfigMap YAML parses back into the same validated config', () => {
    const data = renderConfigMapData(FULL);
    expect(Object.keys(data)).toEqual(['config.yaml']);
    expect(parseSidecarConfig(parse(data['config.yaml']!))).toEqual(renderSidecarConfig(FULL));
  });

  it('a policy the sidecar would refuse fails with LLMAUDIT_E_POLICY_CONFIG_INVALID', () => {
    // Skips parseAuditPolicy, as an object from an older CRD version might.
    const bad = structuredClone(FULL) as AuditPolicy;
    bad.spec.endpoints[0]!.upstream = 'not a url';
    let err: unknown;
    try {
      renderSidecarConfig(bad);
    } catch (e) {
      err = e;
    }
    expect(isLlmauditError(err, 'LLMAUDIT_E_POLICY_CONFIG_INVALID')).toBe(true);
    expect(ep1(FULL).takeOverPort).toBe(11434);
  });
});
