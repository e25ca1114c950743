/**
 * The `governance` section of the sidecar config (docs/governance.md is the reference): what the
 * sidecar enforces on each request before it is forwarded. TypeBox, like the rest of the schema
 * (ADR 0003); the operator renders an AuditPolicy's `spec.governance` into exactly this.
 */
import { Type, type Static } from '@sinclair/typebox';
import { BUILTIN_DETECTORS } from './builtin-detectors.ts';

export { BUILTIN_DETECTORS, type BuiltinDetector } from './builtin-detectors.ts';

const Action = Type.Union([Type.Literal('flag'), Type.Literal('redact-in-log'), Type.Literal('redact-upstream'), Type.Literal('block')], {
  description: 'flag: record only; redact-in-log: the stored copy holds a keyed token; redact-upstream: the upstream gets the token too; block: the request is refused.',
});
const ResponseAction = Type.Union([Type.Literal('ignore'), Type.Literal('flag'), Type.Literal('redact-in-log')], { default: 'ignore', description: 'What a match in the response does (the response has already gone to the client).' });
const Glob = Type.String({ minLength: 1, maxLength: 256, description: 'Model name glob: * any run of characters, ? one character.' });
const ALLOW = 'When not empty, only models matching one of these globs are allowed.';
const DENY = 'Models matching one of these globs are refused (deny wins over allow).';

const ModelRules = Type.Object(
  {
    allow: Type.Array(Glob, { default: [], maxItems: 256, description: ALLOW }),
    deny: Type.Array(Glob, { default: [], maxItems: 256, description: DENY }),
  },
  { additionalProperties: false, description: 'Model rules of one endpoint, checked in addition to the global ones.' },
);

export const DetectorRuleSchema = Type.Object(
  {
    action: Action,
    responses: ResponseAction,
  },
  { additionalProperties: false, description: 'A built-in detector to run and what its matches do.' },
);

export const CustomDetectorSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 40, description: 'Detector name; the redaction token label is its upper-case form.' }),
    pattern: Type.String({ minLength: 1, maxLength: 1024, description: 'JavaScript regular expression (no nested quantifiers, no backreferences: matching must stay linear).' }),
    caseInsensitive: Type.Boolean({ default: false, description: 'Match letters in either case.' }),
    action: Action,
    responses: ResponseAction,
  },
  { additionalProperties: false, description: 'A detector from a regular expression of the policy.' },
);

export const RateLimitRuleSchema = Type.Object(
  {
    by: Type.Union([Type.Literal('workload'), Type.Literal('endpoint'), Type.Literal('apiKey')], { description: "Bucket key: the workload, the workload's endpoint, or the client's API-key fingerprint." }),
    requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1, description: 'Requests a minute (one unit per request, taken before forwarding).' })),
    tokensPerMinute: Type.Optional(Type.Integer({ minimum: 1, description: 'Charged after the fact from the response usage (input + output tokens).' })),
    burst: Type.Optional(Type.Number({ minimum: 1, maximum: 10, description: 'Bucket capacity as a multiple of the per-minute rate (default 1).' })),
  },
  { additionalProperties: false, description: 'Token buckets under one key.' },
);

export const RedisSchema = Type.Object(
  {
    url: Type.String({ pattern: '^rediss?://', description: 'redis://host:port/db; the password comes from passwordFile, never from the URL.' }),
    passwordFile: Type.Optional(Type.String({ description: 'File holding the Redis password (a mounted Secret).' })),
    keyPrefix: Type.String({ default: 'llmaudit:', maxLength: 64, description: 'Prefix of every key the sidecar writes.' }),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'Longest wait for Redis per request; past it onUnavailable applies.' }),
    onUnavailable: Type.Union([Type.Literal('allow'), Type.Literal('block')], { default: 'allow', description: 'Fail open (allow, counted) or closed (503) when Redis cannot answer.' }),
  },
  { additionalProperties: false, description: 'Redis holding the rate-limit buckets and budget spend of every replica (cluster-wide limits).' },
);

const Price = Type.Object(
  {
    input: Type.Number({ minimum: 0, description: 'USD per 1M input tokens.' }),
    cachedInput: Type.Optional(Type.Number({ minimum: 0, description: 'USD per 1M cached input tokens (default: input).' })),
    output: Type.Number({ minimum: 0, description: 'USD per 1M output tokens.' }),
  },
  { additionalProperties: false, description: 'Price of a model, USD per 1M tokens.' },
);

export const BudgetSchema = Type.Object(
  {
    period: Type.Union([Type.Literal('day'), Type.Literal('month')], { description: 'UTC calendar day or month.' }),
    usd: Type.Number({ minimum: 0, description: 'USD that may be spent in the period (0: nothing).' }),
    action: Type.Union([Type.Literal('block'), Type.Literal('flag')], { default: 'block', description: 'Once spent: block (429) or flag.' }),
  },
  { additionalProperties: false, description: 'A spending budget of the workload.' },
);

const HeaderRule = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Request header name.' }),
    equals: Type.String({ maxLength: 1024, description: 'Exact value.' }),
    weight: Type.Number({ description: 'Added to the score when the header has this value.' }),
  },
  { additionalProperties: false, description: 'A risk weight for a request header value.' },
);

export const RiskSchema = Type.Object(
  {
    blockAt: Type.Optional(Type.Number({ description: 'A request whose score reaches this is blocked.' })),
    flagAt: Type.Optional(Type.Number({ description: 'A request whose score reaches this is flagged.' })),
    detectors: Type.Record(Type.String(), Type.Number({ description: 'Weight.' }), { default: {}, description: 'Weight per detector name (added once when it matches); unlisted detectors weigh personalData or secret.' }),
    personalData: Type.Number({ default: 70, description: 'Weight of a personal-data or custom detector that matched.' }),
    secret: Type.Number({ default: 90, description: 'Weight of a secret detector that matched.' }),
    externalEndpoint: Type.Number({ default: 50, description: 'The upstream is outside the pod (not a loopback address).' }),
    deniedModel: Type.Number({ default: 100, description: 'The model is denied.' }),
    capHit: Type.Number({ default: 20, description: 'A cap refused or clamped the request.' }),
    offHours: Type.Number({ default: 0, description: 'The request comes during offHoursUtc.' }),
    offHoursUtc: Type.Object(
      { from: Type.Integer({ minimum: 0, maximum: 23, default: 20, description: 'First off hour (UTC).' }), to: Type.Integer({ minimum: 0, maximum: 23, default: 6, description: 'First hour after the off hours (UTC).' }) },
      { additionalProperties: false, default: {}, description: 'Off hours, whole UTC hours [from, to).' },
    ),
    headers: Type.Array(HeaderRule, { default: [], maxItems: 64, description: 'Weights added when a request header has exactly this value.' }),
  },
  { additionalProperties: false, default: {}, description: 'Risk score: weights summed per request, with a block and a flag threshold.' },
);

export const GovernanceSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('monitor')], { default: 'enforce', description: 'monitor: decide and record, never block or rewrite the request.' }),
    workload: Type.Optional(Type.String({ maxLength: 253, description: 'Name shared by every replica (rate-limit and budget key); defaults to the policy name.' })),
    redactionKeyFile: Type.Optional(Type.String({ description: 'File with the HMAC key of redaction tokens; default: derived from the log signing key.' })),
    models: Type.Object(
      {
        allow: Type.Array(Glob, { default: [], maxItems: 256, description: ALLOW }),
        deny: Type.Array(Glob, { default: [], maxItems: 256, description: DENY }),
        aliases: Type.Record(Type.String(), Type.String({ maxLength: 256, description: 'Model name.' }), { default: {}, description: 'Name in the request (or Azure deployment) → model name the rules and prices use.' }),
        endpoints: Type.Record(Type.String(), ModelRules, { default: {}, description: 'Per endpoint name: rules checked in addition to the global ones.' }),
      },
      { additionalProperties: false, default: {}, description: 'Which models may be called.' },
    ),
    detectors: Type.Record(Type.String(), DetectorRuleSchema, { default: {}, description: `Built-in detectors to run, by name (${BUILTIN_DETECTORS.join(', ')}).` }),
    customDetectors: Type.Array(CustomDetectorSchema, { default: [], maxItems: 64, description: 'Detectors from the policy’s own regular expressions.' }),
    caps: Type.Object(
      {
        maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Largest request body, in bytes.' })),
        maxOutputTokens: Type.Optional(Type.Integer({ minimum: 1, description: 'Ceiling on max_tokens / max_completion_tokens / max_output_tokens / num_predict.' })),
        outputTokens: Type.Union([Type.Literal('reject'), Type.Literal('clamp')], { default: 'reject', description: 'clamp: the forwarded request asks for at most the ceiling.' }),
        maxTools: Type.Optional(Type.Integer({ minimum: 0, description: 'Most tool definitions in a request.' })),
        maxMessages: Type.Optional(Type.Integer({ minimum: 1, description: 'Most messages (or Responses input items) in a request.' })),
      },
      { additionalProperties: false, default: {}, description: 'Request caps.' },
    ),
    rateLimits: Type.Object(
      {
        rules: Type.Array(RateLimitRuleSchema, { default: [], maxItems: 3, description: 'At most one rule per key (workload, endpoint, apiKey).' }),
        redis: Type.Optional(RedisSchema),
      },
      { additionalProperties: false, default: {}, description: 'Rate limits (token buckets), local or cluster-wide through Redis.' },
    ),
    prices: Type.Record(Type.String(), Price, { default: {}, description: 'Per model glob, overriding the shipped price table.' }),
    budgets: Type.Array(BudgetSchema, { default: [], maxItems: 2, description: 'Spending budgets per UTC day and month.' }),
    risk: RiskSchema,
  },
  { additionalProperties: false, default: {}, description: 'Governance enforced in the data path: models, detectors, caps, rate limits, budgets, risk (docs/governance.md).' },
);

export type GovernanceConfig = Static<typeof GovernanceSchema>;
export type DetectorAction = Static<typeof Action>;
export type ResponseDetectorAction = Static<typeof ResponseAction>;
export type RateLimitRule = Static<typeof RateLimitRuleSchema>;
export type RedisConfig = Static<typeof RedisSchema>;
export type PriceOverride = Static<typeof Price>;
