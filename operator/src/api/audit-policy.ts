/**
 * AuditPolicy v1alpha1 (auditpolicies.llmaudit.dev): the one source of truth for the TypeScript
 * types and the CRD's OpenAPI v3 schema (hack/gen-crds.ts writes the CRD YAML from it). Fields
 * that pass straight into the sidecar config take their defaults from the sidecar's own schema,
 * so the CRD, `kubectl explain` and the proxy can never disagree about them.
 *
 * Every object and field carries a description (kubectl explain); CEL rules
 * (x-kubernetes-validations) catch the mistakes the API server could not otherwise see:
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules
 * CEL cost limits need bounds on every list and string a rule walks, hence the maxItems/maxLength.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SidecarConfigSchema } from '@llmaudit/sidecar/config';
import type { ObjectMeta } from '../kube/types.ts';
import { cel, Quantity, QuantityMap, StringEnum } from './schema-helpers.ts';
import { governanceSpecSchema } from './governance-spec.ts';

export const GROUP = 'llmaudit.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'AuditPolicy';
export const PLURAL = 'auditpolicies';

/** Defaults the sidecar applies, read from its schema (one source of truth). */
function sidecarDefault<T>(section: 'capture' | 'log' | 'telemetry', key: string, member?: string): T {
  type Props = { properties: Record<string, { default?: unknown } & Partial<Props>> };
  const obj = SidecarConfigSchema.properties[section] as unknown as Props;
  const d = member === undefined ? obj.properties[key]?.default : obj.properties[key]?.properties?.[member]?.default;
  if (d === undefined) throw new Error(`sidecar schema has no default for ${section}.${key}${member === undefined ? '' : `.${member}`}`);
  return d as T;
}

const Port = (description: string, def?: number) => Type.Integer({ minimum: 1, maximum: 65535, description, ...(def === undefined ? {} : { default: def }) });
const Name = (description: string) => Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description });
/** An object name (RFC 1123 subdomain), as for Secrets and PersistentVolumeClaims. */
const ObjectName = (description: string) => Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253, description });
const EnvName = Type.String({
  pattern: '^([A-Za-z_][A-Za-z0-9_]*)?$',
  maxLength: 128,
  description: 'Environment variable set in every app container to the sidecar URL of this endpoint. Defaults by api: openai, azure-openai and vllm → OPENAI_BASE_URL; anthropic → ANTHROPIC_BASE_URL; ollama → OLLAMA_HOST; auto and generic → none. "" sets none.',
});

/** Defaults of the sidecar ports and of the port a taken-over Ollama server moves to. */
export const DEFAULT_PROXY_PORT = 15080;
export const DEFAULT_ADMIN_PORT = 9090;
export const DEFAULT_TAKEOVER_BACKEND_PORT = 11435;

// CEL for "this port, or its default when unset": the API server evaluates rules on schema
// defaults as they are written (e.g. ports: {}), so every optional field is read through has().
const PROXY_PORT_OF = (ports: string): string => `(has(${ports}.proxy) ? ${ports}.proxy : ${DEFAULT_PROXY_PORT})`;
const ADMIN_PORT_OF = (ports: string): string => `(has(${ports}.admin) ? ${ports}.admin : ${DEFAULT_ADMIN_PORT})`;
const SPEC_PROXY_PORT = `(has(self.sidecar) && has(self.sidecar.ports) && has(self.sidecar.ports.proxy) ? self.sidecar.ports.proxy : ${DEFAULT_PROXY_PORT})`;
const SPEC_ADMIN_PORT = `(has(self.sidecar) && has(self.sidecar.ports) && has(self.sidecar.ports.admin) ? self.sidecar.ports.admin : ${DEFAULT_ADMIN_PORT})`;

export const API_FAMILIES = ['auto', 'openai', 'azure-openai', 'anthropic', 'ollama', 'vllm', 'generic'] as const;

export const EndpointSpec = Type.Object(
  {
    name: Name('Endpoint name, unique in the policy; the sidecar serves it under the path prefix /<name>.'),
    upstream: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048, description: 'Base URL of the upstream, as the SDK would take it as its base URL (e.g. https://api.openai.com/v1, https://api.anthropic.com, http://ollama:11434). The sidecar strips /<name> and keeps this base path. Optional with takeOverPort (defaults to http://127.0.0.1:<takeOverBackendPort>).' })),
    api: StringEnum(API_FAMILIES, { description: 'API family of the upstream: picks the protocol adapter and the default env variable. auto detects the family from the request path.', default: 'auto' }),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', maxLength: 256, description: 'Path prefix routed to this endpoint on the shared proxy port; defaults to /<name>.' })),
    port: Type.Optional(Port('Extra sidecar port on 127.0.0.1 serving only this endpoint, without a path prefix (for clients that cannot take a base path).')),
    takeOverPort: Type.Optional(Port('Port takeover (api: ollama only): the sidecar listens on this port (e.g. 11434) in place of the Ollama server in the pod, which moves to 127.0.0.1:<takeOverBackendPort>. Clients and Services keep using the original port.')),
    takeOverBackendPort: Type.Optional(Port(`Port the taken-over Ollama server moves to on 127.0.0.1 (its OLLAMA_HOST is set to 127.0.0.1:<port>). Default ${DEFAULT_TAKEOVER_BACKEND_PORT}.`)),
    takeOverContainer: Type.Optional(Type.String({ maxLength: 253, description: 'Name of the container to move for the port takeover; by default the container whose image is ollama/ollama.' })),
    env: Type.Optional(EnvName),
    overrideEnv: Type.Boolean({ default: false, description: 'Set env even in containers that already define it explicitly. Off: a container that sets the variable itself keeps its value (and the pod is annotated llmaudit.dev/env-kept).' }),
  },
  {
    description: 'An LLM API the sidecar proxies and records.',
    ...cel(
      { rule: "!has(self.takeOverPort) || (has(self.api) && self.api == 'ollama')", message: 'takeOverPort is only for api: ollama', fieldPath: '.takeOverPort' },
      { rule: 'has(self.upstream) || has(self.takeOverPort)', message: 'upstream is required unless takeOverPort is set', fieldPath: '.upstream', reason: 'FieldValueRequired' },
      { rule: '(!has(self.takeOverBackendPort) && !has(self.takeOverContainer)) || has(self.takeOverPort)', message: 'takeOverBackendPort and takeOverContainer need takeOverPort' },
      { rule: `!has(self.takeOverPort) || self.takeOverPort != (has(self.takeOverBackendPort) ? self.takeOverBackendPort : ${DEFAULT_TAKEOVER_BACKEND_PORT})`, message: 'takeOverPort and takeOverBackendPort must differ', fieldPath: '.takeOverBackendPort' },
    ),
  },
);

export const CaptureSpec = Type.Object(
  {
    mode: StringEnum(['full', 'redacted', 'metadata'] as const, { description: 'What the log keeps: full stores the bodies; redacted stores them with every detected personal data and secret replaced by a keyed token (the upstream gets what was sent); metadata stores no bodies (their digests and sizes stay). In every mode the headers named in redactHeaders and the built-in secret headers are stored redacted.', default: sidecarDefault('capture', 'mode') }),
    redactHeaders: Type.Array(Type.String({ maxLength: 256, description: 'Header name.' }), { maxItems: 64, default: [], description: 'Extra header names to redact (case-insensitive), besides Authorization, x-api-key and the other built-in secrets.' }),
    maxBodyBytes: Type.Integer({ minimum: 0, default: sidecarDefault('capture', 'maxBodyBytes'), description: 'Cap on each stored request/response body; beyond it only the digest and size are kept.' }),
    maxDecodedBytes: Type.Integer({ minimum: 0, default: sidecarDefault('capture', 'maxDecodedBytes'), description: 'Cap on decompressing a gzip/br/deflate body for the stored copy (defeats decompression bombs).' }),
    mediaThresholdBytes: Type.Integer({ minimum: 0, default: sidecarDefault('capture', 'mediaThresholdBytes'), description: 'Inline base64 media larger than this moves to media/<sha256>.<ext> beside the log; 0 disables.' }),
  },
  { default: {}, description: 'What the sidecar records of each exchange.' },
);

export const RetentionSpec = Type.Object(
  {
    maxAgeDays: Type.Optional(Type.Integer({ minimum: 1, description: 'Sealed segments whose newest entry is older than this many days have their content erased (reason retention); entries, digests, chain and checkpoints stay.' })),
    maxTotalBytes: Type.Optional(Quantity({ description: 'Size of a chain directory (e.g. 5Gi) beyond which the content of the oldest sealed segments is erased (reason retention).' })),
    mode: StringEnum(['erase-content', 'delete-segments'] as const, {
      description: 'erase-content: the content of segments past retention is erased, entries, digests and Merkle tree stay. delete-segments: the oldest of them are deleted whole after a signed prune record (first seq kept, tree size and root at the cut) from which llmaudit verify starts; hash tiles and checkpoints stay, so proofs of kept entries stay valid.',
      default: sidecarDefault('log', 'retention', 'mode'),
    }),
  },
  { default: {}, description: 'How long sealed log segments are kept: past maxAgeDays or maxTotalBytes the sidecar erases their content (format v2) or, with mode delete-segments, deletes them, at start and every hour. The open segment is never touched.' },
);

export const LogSpec = Type.Object(
  {
    durability: StringEnum(['strict', 'batched'] as const, { description: 'strict: the last bytes of a response wait until its entry is fsynced; batched: group commit, the response is never delayed.', default: sidecarDefault('log', 'durability') }),
    onLogFailure: StringEnum(['block', 'allow'] as const, { description: 'When the log cannot be written: block answers 503 (fail closed), allow forwards unrecorded traffic and counts it (fail open).', default: sidecarDefault('log', 'onLogFailure') }),
    segmentMaxBytes: Type.Integer({ minimum: 4096, default: sidecarDefault('log', 'segmentMaxBytes'), description: 'Seal the current segment file when it reaches this size.' }),
    segmentMaxAgeSeconds: Type.Integer({ minimum: 1, default: sidecarDefault('log', 'segmentMaxAgeSeconds'), description: 'Seal the current segment file when it is this old.' }),
    checkpointIntervalSeconds: Type.Integer({ minimum: 1, default: sidecarDefault('log', 'checkpointIntervalSeconds'), description: 'Sign a checkpoint at least this often.' }),
    signEntries: Type.Boolean({ default: sidecarDefault('log', 'signEntries'), description: 'Sign every entry as well as the checkpoints.' }),
    retention: RetentionSpec,
  },
  { default: {}, description: 'How the audit log is written.' },
);

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany'] as const;

export const StorageSpec = Type.Object(
  {
    existingClaim: Type.Optional(ObjectName('Name of an existing PersistentVolumeClaim in the policy namespace to hold the logs.')),
    create: Type.Optional(
      Type.Object(
        {
          size: Quantity({ description: 'Requested size, e.g. 1Gi.', default: '1Gi' }),
          storageClassName: Type.Optional(Type.String({ maxLength: 253, description: 'StorageClass of the claim; unset uses the cluster default.' })),
          accessModes: Type.Array(StringEnum(ACCESS_MODES, { description: 'Access mode.' }), { minItems: 1, maxItems: 3, default: ['ReadWriteOnce'], description: 'Access modes. Pods of a policy share one claim: use ReadWriteMany when they run on several nodes.' }),
        },
        { description: 'The operator creates the claim llmaudit-<policy>-log (owned by the policy: deleting the policy deletes the claim).' },
      ),
    ),
    subPath: Type.Optional(Type.String({ pattern: '^[^/]', maxLength: 253, description: 'Sub-directory of the volume mounted at the log directory.' })),
  },
  {
    default: { create: {} },
    description: 'Where the logs live: an existing claim, or one the operator creates.',
    ...cel({ rule: 'has(self.existingClaim) != has(self.create)', message: 'set exactly one of existingClaim or create' }),
  },
);

export const TelemetrySpec = Type.Object(
  {
    otlpEndpoint: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048, description: 'OTLP/HTTP base URL (spans go to <url>/v1/traces), e.g. http://jaeger-collector.observability:4318. Unset: no spans exported.' })),
    samplingRatio: Type.Number({ minimum: 0, maximum: 1, default: sidecarDefault('telemetry', 'samplingRatio'), description: 'Fraction of exchanges traced (parent-based).' }),
    captureContent: Type.Boolean({ default: sidecarDefault('telemetry', 'captureContent'), description: 'Put message content on spans. Off: content stays in the audit log only.' }),
    serviceName: Type.Optional(Type.String({ maxLength: 253, description: 'service.name of the spans; defaults to the workload name.' })),
  },
  { default: {}, description: 'OpenTelemetry span export.' },
);

export const SigningSpec = Type.Object(
  {
    secretRef: Type.Optional(
      Type.Object(
        {
          name: ObjectName('Secret in the policy namespace.'),
          key: Type.String({ default: 'signing.key', maxLength: 253, description: 'Key in the Secret holding the Ed25519 signer key (signed-note PRIVATE+KEY text).' }),
        },
        { description: 'Use this Secret. Unset: the operator generates llmaudit-<policy>-signing and publishes the verifier key in status.publicKey.' },
      ),
    ),
  },
  { default: {}, description: 'The key that signs checkpoints and entries.' },
);

export const EraseSpec = Type.Object(
  {
    tokenSecretRef: Type.Optional(
      Type.Object(
        {
          name: ObjectName('Secret in the policy namespace.'),
          key: Type.String({ default: 'token', maxLength: 253, description: 'Key in the Secret holding the bearer token.' }),
        },
        { description: 'Secret holding the bearer token of the sidecar\'s POST /v1/erase (on the admin port). The operator mounts it read-only in the sidecar container alone and sets admin.eraseTokenFile. Unset: the sidecar serves no erase endpoint.' },
      ),
    ),
  },
  { default: {}, description: 'Erasure on request (log format v2): the live erase endpoint of each sidecar.' },
);

export const SidecarSpec = Type.Object(
  {
    image: Type.Optional(Type.String({ maxLength: 1024, description: 'Sidecar image; defaults to the one the operator was installed with.' })),
    imagePullPolicy: Type.Optional(StringEnum(['Always', 'IfNotPresent', 'Never'] as const, { description: 'Pull policy of the sidecar image.' })),
    resources: Type.Optional(
      Type.Object(
        { requests: Type.Optional(QuantityMap('Minimum resources (cpu, memory).')), limits: Type.Optional(QuantityMap('Maximum resources (cpu, memory).')) },
        { description: 'Sidecar resources; unset keys take the defaults (requests cpu 50m, memory 128Mi; limits cpu 1, memory 256Mi).' },
      ),
    ),
    ports: Type.Object(
      {
        proxy: Port('Shared proxy port on 127.0.0.1; each endpoint is served under /<name>.', DEFAULT_PROXY_PORT),
        admin: Port('Admin port: /healthz, /readyz, /metrics.', DEFAULT_ADMIN_PORT),
      },
      {
        default: {},
        description: 'Ports the sidecar listens on.',
        // The API server checks this rule against the default {} too (at CRD creation, before any
        // nested default is filled in), so an unset port reads as its default.
        ...cel({ rule: `${PROXY_PORT_OF('self')} != ${ADMIN_PORT_OF('self')}`, message: 'proxy and admin ports must differ' }),
      },
    ),
  },
  { default: {}, description: 'The injected sidecar container.' },
);

export const AuditPolicySpec = Type.Object(
  {
    endpoints: Type.Array(EndpointSpec, {
      minItems: 1,
      maxItems: 16,
      description: 'LLM APIs the sidecar proxies. Names are unique (a list map keyed by name).',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      // No reason: FieldValueDuplicate here: the API server reports a Duplicate without the message,
      // which would leave the user guessing which rule failed.
      ...cel(
        { rule: "self.all(e, !has(e.env) || e.env == '' || self.filter(f, has(f.env) && f.env == e.env).size() == 1)", message: 'env names must be unique across endpoints' },
        { rule: 'self.all(e, !has(e.takeOverPort) || self.filter(f, has(f.takeOverPort) && f.takeOverPort == e.takeOverPort).size() == 1)', message: 'a port can be taken over by one endpoint only' },
        { rule: "self.all(e, self.filter(f, (has(f.pathPrefix) ? f.pathPrefix : '/' + f.name) == (has(e.pathPrefix) ? e.pathPrefix : '/' + e.name)).size() == 1)", message: 'path prefixes must be unique across endpoints' },
      ),
    }),
    capture: CaptureSpec,
    log: LogSpec,
    storage: StorageSpec,
    telemetry: TelemetrySpec,
    signing: SigningSpec,
    erase: EraseSpec,
    sidecar: SidecarSpec,
    governance: governanceSpecSchema(),
  },
  {
    description: 'What to record and how: endpoints, capture, log, storage, telemetry, signing, erase, sidecar.',
    ...cel({
      // has() ternaries rather than optional-field syntax (e.?port), which older API servers lack.
      rule: `self.endpoints.all(e, [has(e.port) ? e.port : 0, has(e.takeOverPort) ? e.takeOverPort : 0, has(e.takeOverBackendPort) ? e.takeOverBackendPort : 0].all(p, p == 0 || (p != ${SPEC_PROXY_PORT} && p != ${SPEC_ADMIN_PORT})))`,
      message: 'endpoint ports must differ from sidecar.ports.proxy and sidecar.ports.admin',
      fieldPath: '.endpoints',
    }),
  },
);

export const ConditionSchema = Type.Object(
  {
    type: Type.String({ maxLength: 316, description: 'Condition type: Ready or Degraded.' }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition.' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description: 'metadata.generation the condition was set for.' })),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'When the status last changed.' }),
    reason: Type.String({ maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$', description: 'CamelCase reason for the last transition.' }),
    message: Type.String({ maxLength: 32768, description: 'Human-readable details.' }),
  },
  { description: 'A metav1.Condition.' },
);

const Count = (description: string) => Type.Optional(Type.Integer({ minimum: 0, format: 'int64', description }));

export const AuditPolicyStatus = Type.Object(
  {
    conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 8, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'], description: 'Ready: config, Secret and claim are in place. Verified: every witnessed chain is consistent (False, reason Inconsistent, once a push is refused). Degraded: something needs attention (message says what).' })),
    observedGeneration: Count('metadata.generation the operator last reconciled.'),
    publicKey: Type.Optional(Type.String({ description: 'Signed-note verifier key of the signing key (give it to llmaudit verify --key).' })),
    workloads: Count('Deployments and StatefulSets that opt in to this policy.'),
    podsInjected: Count('Running pods with the sidecar.'),
    podsMissing: Count('Pods labelled for injection that came up without the sidecar (e.g. created while the webhook was down): delete them to re-inject.'),
    missingPods: Type.Optional(Type.Array(Type.String({ description: 'Pod name.' }), { maxItems: 20, description: 'Names of up to 20 pods counted in podsMissing.' })),
    chains: Count('Logs (one per pod incarnation) the operator witnesses (C2SP tlog-witness); chains of deleted pods count until the policy is deleted.'),
    entries: Count('Entries over all chains: the sum of their witnessed checkpoint sizes.'),
    lastCheckpointTime: Type.Optional(Type.String({ format: 'date-time', description: 'Time the witness cosigned the newest checkpoint of any chain.' })),
    witnessedChains: Type.Optional(Type.Array(Type.String({ description: 'Chain: its pod name, or its origin.' }), { maxItems: 20, description: 'Up to 20 chains whose every witnessed checkpoint was consistent with the one before.' })),
    staleChains: Type.Optional(Type.Array(Type.String({ description: 'Chain: its pod name, or its origin.' }), { maxItems: 20, description: 'Up to 20 chains of running pods that sent the witness no checkpoint for 3 checkpoint intervals.' })),
    inconsistentChains: Type.Optional(Type.Array(Type.String({ description: 'Chain: its pod name, or its origin.' }), { maxItems: 20, description: 'Up to 20 chains the witness refused a checkpoint of: rolled back, truncated or forked (Events CheckpointRefused).' })),
    witnessKey: Type.Optional(Type.String({ description: "The operator witness's cosigner verifier key (type 0x04; give it to llmaudit verify --witness-key)." })),
  },
  { description: 'Observed state, written by the operator.' },
);

export type AuditPolicySpec = Static<typeof AuditPolicySpec>;
export type AuditPolicyStatus = Static<typeof AuditPolicyStatus>;
export type EndpointSpec = Static<typeof EndpointSpec>;
export type Condition = Static<typeof ConditionSchema>;
export type ApiFamily = (typeof API_FAMILIES)[number];

/** An AuditPolicy as stored by the API server (defaults applied). */
export interface AuditPolicy {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: AuditPolicySpec;
  status?: AuditPolicyStatus;
}
