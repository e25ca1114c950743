/**
 * The sidecar's configuration schema: the single source of truth (docs/architecture.md "Principles").
 * The proxy parses its YAML/flags/env against it; the operator imports it to render and validate
 * the ConfigMap it writes for each AuditPolicy, so the two can never disagree.
 *
 * TypeBox gives both the static TypeScript type and the JSON Schema (ADR 0003).
 */
import { Type, type Static } from '@sinclair/typebox';
import { GovernanceSchema } from '../governance/schema.ts';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Ms = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

export const ApiFamilyName = Type.Union(
  [
    Type.Literal('auto'),
    Type.Literal('openai'),
    Type.Literal('azure-openai'),
    Type.Literal('anthropic'),
    Type.Literal('ollama'),
    Type.Literal('vllm'),
    Type.Literal('generic'),
  ],
  { description: 'API family of the upstream; auto detects it from the request path.', default: 'auto' },
);

export const EndpointSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'Endpoint name; also the default path prefix /<name>/.' }),
    upstream: Type.String({ pattern: '^https?://', description: 'Base URL of the upstream (scheme, host, port, optional base path).' }),
    api: ApiFamilyName,
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Path prefix routed to this endpoint; defaults to /<name>.' })),
    caFile: Type.Optional(Type.String({ description: 'PEM file with extra CA certificates trusted for this https upstream.' })),
  },
  { additionalProperties: false },
);

export const ListenerSchema = Type.Object(
  {
    address: Type.String({ default: '127.0.0.1', description: 'Bind address. 127.0.0.1 keeps the proxy private to the pod.' }),
    port: Port,
    defaultEndpoint: Type.Optional(Type.String({ description: 'Endpoint for requests whose path matches no prefix (e.g. the Ollama port takeover).' })),
  },
  { additionalProperties: false },
);

export const CaptureSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('full'), Type.Literal('redacted'), Type.Literal('metadata')], { default: 'full' }),
    maxBodyBytes: Type.Integer({ minimum: 0, default: 1048576, description: 'Cap on each stored body; beyond it only digest and size are kept.' }),
    maxDecodedBytes: Type.Integer({ minimum: 0, default: 8388608, description: 'Cap on decompressing a gzip/br/deflate body for the stored copy (defeats decompression bombs).' }),
    redactHeaders: Type.Array(Type.String(), { default: [], description: 'Extra header names to redact, case-insensitive.' }),
    mediaThresholdBytes: Type.Integer({ minimum: 0, default: 65536, description: 'base64 media larger than this moves to media/<sha256>.<ext>; 0 disables.' }),
    memoryBudgetBytes: Type.Integer({ minimum: 0, default: 33554432, description: 'Bytes all in-flight exchanges together may buffer or decode; past it new bodies stream through, recorded digest-only. 0 disables.' }),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = Type.Object(
  {
    dir: Type.String({ default: '/var/lib/llmaudit', description: 'Root directory of the audit logs (the PVC mount).' }),
    chainDir: Type.Optional(Type.String({ description: 'Exact chain directory; defaults to <dir>/<namespace>/<pod>_<uid>.' })),
    keyFile: Type.String({ default: '/etc/llmaudit/signing/signing.key', description: 'Ed25519 signer key (signed-note PRIVATE+KEY text).' }),
    durability: Type.Union([Type.Literal('strict'), Type.Literal('batched')], { default: 'batched' }),
    onLogFailure: Type.Union([Type.Literal('block'), Type.Literal('allow')], { default: 'block' }),
    signEntries: Type.Boolean({ default: true }),
    segmentMaxBytes: Type.Integer({ minimum: 4096, default: 67108864 }),
    segmentMaxAgeSeconds: Type.Integer({ minimum: 1, default: 3600 }),
    checkpointIntervalSeconds: Type.Integer({ minimum: 1, default: 30 }),
    retention: Type.Object(
      {
        maxAgeDays: Type.Optional(Type.Integer({ minimum: 1, description: 'Erase the content of sealed segments whose newest entry is older than this (docs/erasure.md "Retention").' })),
        maxTotalBytes: Type.Optional(Type.Integer({ minimum: 0, description: 'Erase the content of the oldest sealed segments while the chain directory holds more bytes than this.' })),
        mode: Type.Union([Type.Literal('erase-content'), Type.Literal('delete-segments')], {
          default: 'erase-content',
          description: 'erase-content: erase the content of segments past retention, keeping entries and digests; delete-segments: delete the oldest of them whole after a signed prune record (docs/erasure.md "Retention").',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const TimeoutsSchema = Type.Object(
  {
    connectMs: Ms(10_000, 'TCP/TLS connect timeout.'),
    headersMs: Ms(300_000, 'Time to receive the response headers.'),
    idleMs: Ms(300_000, 'Longest silence between two body chunks.'),
    totalMs: Ms(1_800_000, 'Whole exchange; 0 disables.'),
    requestBodyMs: Ms(120_000, 'Longest time to receive a request body, from its first byte expected to its last; past it the client gets 408 (LLMAUDIT_E_REQUEST_TIMEOUT). 0 disables.'),
    requestIdleMs: Ms(30_000, 'Longest silence between two chunks of a request body; past it the client gets 408. 0 disables.'),
  },
  { additionalProperties: false, default: {} },
);

export const AdminSchema = Type.Object(
  {
    address: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
    eraseTokenFile: Type.Optional(Type.String({ description: 'File holding the bearer token of POST /v1/erase (mounted from a Secret); unset: no erase endpoint.' })),
  },
  { additionalProperties: false, default: {} },
);

export const TelemetrySchema = Type.Object(
  {
    otlpEndpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'OTLP/HTTP base URL; spans go to <url>/v1/traces. Unset: no export.' })),
    headers: Type.Record(Type.String(), Type.String(), { default: {} }),
    samplingRatio: Type.Number({ minimum: 0, maximum: 1, default: 1 }),
    timeoutMs: Ms(10_000, 'Export request timeout.'),
    captureContent: Type.Boolean({ default: false, description: 'Put message content on spans (off: the audit log holds content).' }),
    propagate: Type.Boolean({ default: true, description: 'Forward the exchange span context upstream as traceparent.' }),
    serviceName: Type.Optional(Type.String()),
    maxQueueSize: Type.Integer({ minimum: 1, default: 2048 }),
    toolCallMemory: Type.Integer({ minimum: 0, default: 10000, description: 'Recent tool calls remembered to link TOOL_RESULT spans.' }),
    toolCallMaxAgeMs: Ms(3_600_000, 'How long a tool call is remembered for linking its result.'),
    exportIntervalMs: Ms(1_000, 'Batch export interval (spans are also exported when a batch of 512 is full).'),
  },
  { additionalProperties: false, default: {} },
);

export const WitnessSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^https?://', description: 'C2SP tlog-witness submission prefix: every new checkpoint is POSTed to <url>/add-checkpoint (docs/witness.md). The operator renders its own witness here.' })),
    intervalSeconds: Type.Integer({ minimum: 1, default: 30, description: 'Re-push the newest checkpoint this often even when the log did not grow, so the witness sees the log alive.' }),
  },
  { additionalProperties: false, default: {} },
);

export const SidecarConfigSchema = Type.Object(
  {
    version: Type.Literal(1, { default: 1 }),
    origin: Type.Optional(Type.String({ description: 'Log origin; defaults to llmaudit.dev/<namespace>/<pod>/<uid>.' })),
    policy: Type.String({ default: 'standalone', description: 'Name of the AuditPolicy this config was rendered from.' }),
    listeners: Type.Array(ListenerSchema, { minItems: 1 }),
    endpoints: Type.Array(EndpointSchema, { minItems: 1 }),
    timeouts: TimeoutsSchema,
    capture: CaptureSchema,
    log: LogSchema,
    admin: AdminSchema,
    telemetry: TelemetrySchema,
    witness: WitnessSchema,
    governance: GovernanceSchema,
    shutdownDrainMs: Ms(20_000, 'How long SIGTERM waits for in-flight exchanges.'),
  },
  { additionalProperties: false },
);

export type SidecarConfig = Static<typeof SidecarConfigSchema>;
export type EndpointConfig = Static<typeof EndpointSchema>;
export type ListenerConfig = Static<typeof ListenerSchema>;
