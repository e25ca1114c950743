/**
 * The `governance` section of the sidecar config (docs/governance.md is the reference): what the
 * sidecar enforces on each request before it is forwarded. TypeBox, like the rest of the schema
 * (ADR 0003); the operator renders an AuditPolicy's `spec.governance` into exactly this.
 */
import { Type, type Static } from '@sinclair/typebox';

export const BUILTIN_DETECTORS = ['email', 'phone', 'card', 'iban', 'ssn', 'ipv4', 'ipv6', 'openai-key', 'anthropic-key', 'aws-key', 'github-token', 'jwt', 'private-key', 'high-entropy'] as const;
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

const Action = Type.Union([Type.Literal('flag'), Type.Literal('redact-in-log'), Type.Literal('redact-upstream'), Type.Literal('block')], {
  description: 'flag: record only; redact-in-log: the stored copy holds a keyed token; redact-upstream: the upstream gets the token too; block: the request is refused.',
});
const ResponseAction = Type.Union([Type.Literal('off'), Type.Literal('flag'), Type.Literal('redact-in-log')], { default: 'off', description: 'What a match in the response does (the response has already gone to the client).' });
const Glob = Type.String({ minLength: 1, maxLength: 256, description: 'Model name glob: * any run of characters, ? one character.' });

const ModelRules = Type.Object(
  {
    allow: Type.Array(Glob, { default: [], description: 'When not empty, only models matching one of these globs are allowed.' }),
    deny: Type.Array(Glob, { default: [], description: 'Models matching one of these globs are refused (deny wins over allow).' }),
  },
  { additionalProperties: false },
);

export const DetectorRuleSchema = Type.Object(
  {
    action: Action,
    responses: ResponseAction,
  },
  { additionalProperties: false },
);

export const CustomDetectorSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 40, description: 'Detector name; the redaction token label is its upper-case form.' }),
    pattern: Type.String({ minLength: 1, maxLength: 1024, description: 'JavaScript regular expression (no nested quantifiers, no backreferences: matching must stay linear).' }),
    caseInsensitive: Type.Boolean({ default: false }),
    action: Action,
    responses: ResponseAction,
  },
  { additionalProperties: false },
);

export const RateLimitRuleSchema = Type.Object(
  {
    by: Type.Union([Type.Literal('workload'), Type.Literal('endpoint'), Type.Literal('apiKey')], { description: "Bucket key: the workload, the workload's endpoint, or the client's API-key fingerprint." }),
    requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
    tokensPerMinute: Type.Optional(Type.Integer({ minimum: 1, description: 'Charged after the fact from the response usage (input + output tokens).' })),
    burst: Type.Optional(Type.Number({ minimum: 1, maximum: 10, description: 'Bucket capacity as a multiple of the per-minute rate (default 1).' })),
  },
  { additionalProperties: false },
);

export const RedisSchema = Type.Object(
  {
    url: Type.String({ pattern: '^rediss?://', description: 'redis://host:port/db; the password comes from passwordFile, never from the URL.' }),
    passwordFile: Type.Optional(Type.String({ description: 'File holding the Redis password (a mounted Secret).' })),
    keyPrefix: Type.String({ default: 'llmaudit:', maxLength: 64 }),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'Longest wait for Redis per request; past it onUnavailable applies.' }),
    onUnavailable: Type.Union([Type.Literal('allow'), Type.Literal('block')], { default: 'allow', description: 'Fail open (allow, counted) or closed (503) when Redis cannot answer.' }),
  },
  { additionalProperties: false },
);

const Price = Type.Object(
  {
    input: Type.Number({ minimum: 0, description: 'USD per 1M input tokens.' }),
    cachedInput: Type.Optional(Type.Number({ minimum: 0, description: 'USD per 1M cached input tokens (default: input).' })),
    output: Type.Number({ minimum: 0, description: 'USD per 1M output tokens.' }),
  },
  { additionalProperties: false },
);

export const BudgetSchema = Type.Object(
  {
    period: Type.Union([Type.Literal('day'), Type.Literal('month')], { description: 'UTC calendar day or month.' }),
    usd: Type.Number({ exclusiveMinimum: 0 }),
    action: Type.Union([Type.Literal('block'), Type.Literal('flag')], { default: 'block' }),
  },
  { additionalProperties: false },
);

const HeaderRule = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    equals: Type.String({ maxLength: 1024 }),
    weight: Type.Number(),
  },
  { additionalProperties: false },
);

export const RiskSchema = Type.Object(
  {
    blockAt: Type.Optional(Type.Number({ description: 'A request whose score reaches this is blocked.' })),
    flagAt: Type.Optional(Type.Number({ description: 'A request whose score reaches this is flagged.' })),
    detectors: Type.Record(Type.String(), Type.Number(), { default: {}, description: 'Weight per detector name (added once when it matches); unlisted detectors weigh personalData or secret.' }),
    personalData: Type.Number({ default: 70 }),
    secret: Type.Number({ default: 90 }),
    externalEndpoint: Type.Number({ default: 50, description: 'The upstream is outside the pod (not a loopback address).' }),
    deniedModel: Type.Number({ default: 100 }),
    capHit: Type.Number({ default: 20 }),
    offHours: Type.Number({ default: 0 }),
    offHoursUtc: Type.Object(
      { from: Type.Integer({ minimum: 0, maximum: 23, default: 20 }), to: Type.Integer({ minimum: 0, maximum: 23, default: 6 }) },
      { additionalProperties: false, default: {}, description: 'Off hours, whole UTC hours [from, to).' },
    ),
    headers: Type.Array(HeaderRule, { default: [], description: 'Weights added when a request header has exactly this value.' }),
  },
  { additionalProperties: false, default: {} },
);

export const GovernanceSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('monitor')], { default: 'enforce', description: 'monitor: decide and record, never block or rewrite the request.' }),
    workload: Type.Optional(Type.String({ maxLength: 253, description: 'Name shared by every replica (rate-limit and budget key); defaults to the policy name.' })),
    redactionKeyFile: Type.Optional(Type.String({ description: 'File with the HMAC key of redaction tokens; default: derived from the log signing key.' })),
    models: Type.Object(
      {
        allow: Type.Array(Glob, { default: [] }),
        deny: Type.Array(Glob, { default: [] }),
        aliases: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Name in the request (or Azure deployment) → model name the rules and prices use.' }),
        endpoints: Type.Record(Type.String(), ModelRules, { default: {}, description: 'Per endpoint name: rules checked in addition to the global ones.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    detectors: Type.Record(Type.String(), DetectorRuleSchema, { default: {}, description: `Built-in detectors to run, by name (${BUILTIN_DETECTORS.join(', ')}).` }),
    customDetectors: Type.Array(CustomDetectorSchema, { default: [] }),
    caps: Type.Object(
      {
        maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1 })),
        maxOutputTokens: Type.Optional(Type.Integer({ minimum: 1, description: 'Ceiling on max_tokens / max_completion_tokens / max_output_tokens / num_predict.' })),
        outputTokens: Type.Union([Type.Literal('reject'), Type.Literal('clamp')], { default: 'reject', description: 'clamp: the forwarded request asks for at most the ceiling.' }),
        maxTools: Type.Optional(Type.Integer({ minimum: 0 })),
        maxMessages: Type.Optional(Type.Integer({ minimum: 1 })),
      },
      { additionalProperties: false, default: {} },
    ),
    rateLimits: Type.Object(
      {
        rules: Type.Array(RateLimitRuleSchema, { default: [] }),
        redis: Type.Optional(RedisSchema),
      },
      { additionalProperties: false, default: {} },
    ),
    prices: Type.Record(Type.String(), Price, { default: {}, description: 'Per model glob, overriding the shipped price table.' }),
    budgets: Type.Array(BudgetSchema, { default: [] }),
    risk: RiskSchema,
  },
  { additionalProperties: false, default: {} },
);

export type GovernanceConfig = Static<typeof GovernanceSchema>;
export type DetectorAction = Static<typeof Action>;
export type ResponseDetectorAction = Static<typeof ResponseAction>;
export type RateLimitRule = Static<typeof RateLimitRuleSchema>;
export type RedisConfig = Static<typeof RedisSchema>;
export type PriceOverride = Static<typeof Price>;
