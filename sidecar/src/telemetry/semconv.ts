/**
 * Span attribute names, pinned (docs/style-guide.md "Logging and telemetry").
 *
 * The gen_ai.* names are copied from the OpenTelemetry semantic conventions v1.41.0, GenAI
 * registry (https://github.com/open-telemetry/semantic-conventions/blob/v1.41.0/docs/registry/attributes/gen-ai.md),
 * as shipped in the incubating entry point of @opentelemetry/semantic-conventions 1.45. Their
 * stability upstream is "Development" (and they are moving to the semantic-conventions-genai
 * repository), so we keep our own copy: an upstream rename must be a deliberate change here,
 * not a surprise from a dependency bump. server.*, error.type and k8s.* are stable names.
 * llmaudit.* are ours: they lead from a span to its audit log entry and back.
 */

export const SEMCONV_VERSION = '1.41.0';

// gen_ai.* (Development)
export const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
/** Seconds from request issuance to the first chunk of a streamed response. */
export const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
export const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
export const GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
export const GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const GEN_AI_TOOL_CALL_ID = 'gen_ai.tool.call.id';
export const GEN_AI_TOOL_TYPE = 'gen_ai.tool.type';
export const GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result';
// Opt-in content (the conventions make these opt-in too: they may hold sensitive data).
export const GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
export const GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
export const GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions';
export const GEN_AI_TOOL_DEFINITIONS = 'gen_ai.tool.definitions';

/** gen_ai.operation.name for a tool execution span (semconv "execute_tool"). */
export const OPERATION_EXECUTE_TOOL = 'execute_tool';

// Stable general attributes
export const SERVER_ADDRESS = 'server.address';
export const SERVER_PORT = 'server.port';
export const ERROR_TYPE = 'error.type';
export const HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

// Resource (k8s.* from the downward API, https://kubernetes.io/docs/concepts/workloads/pods/downward-api/)
export const SERVICE_NAME = 'service.name';
export const K8S_NAMESPACE_NAME = 'k8s.namespace.name';
export const K8S_POD_NAME = 'k8s.pod.name';
export const K8S_POD_UID = 'k8s.pod.uid';
export const K8S_CONTAINER_NAME = 'k8s.container.name';

// llmaudit.* (ours)
export const LLMAUDIT_SPAN_TYPE = 'llmaudit.span_type';
export const LLMAUDIT_REQUEST_TYPE = 'llmaudit.request_type';
export const LLMAUDIT_SEQ = 'llmaudit.seq';
export const LLMAUDIT_ENTRY_HASH = 'llmaudit.entry_hash';
export const LLMAUDIT_ORIGIN = 'llmaudit.origin';
export const LLMAUDIT_ENDPOINT = 'llmaudit.endpoint';
export const LLMAUDIT_API = 'llmaudit.api';
/** How the trace id was chosen: traceparent | x-trace-id | conversation | random. */
export const LLMAUDIT_TRACE_SOURCE = 'llmaudit.trace_source';
/** Tool calls the response asks for / tool results the request carries (names and ids are in the entry). */
export const LLMAUDIT_TOOL_CALL_COUNT = 'llmaudit.tool_call.count';
export const LLMAUDIT_TOOL_RESULT_COUNT = 'llmaudit.tool_result.count';
/** The governance decision of the exchange (docs/governance.md); the GenAI semconv has no cost attribute. */
export const LLMAUDIT_GOVERNANCE_DECISION = 'llmaudit.governance.decision';
export const LLMAUDIT_GOVERNANCE_MODE = 'llmaudit.governance.mode';
export const LLMAUDIT_GOVERNANCE_RISK = 'llmaudit.governance.risk';
export const LLMAUDIT_GOVERNANCE_REASONS = 'llmaudit.governance.reasons';
export const LLMAUDIT_GOVERNANCE_DETECTORS = 'llmaudit.governance.detectors';
export const LLMAUDIT_USAGE_COST_USD = 'llmaudit.usage.cost_usd';
