// Protocol adapters: request JSON + response bytes in, a NormalizedExchange out (docs/architecture.md
// "Data flow of one exchange"). Named exports only.
export type { ApiKind, MessageSummary, NormalizedExchange, OperationName, ProviderName, ToolCall, ToolResult, Usage } from './types.ts';
export type { AdapterOptions, RequestSide, StreamAccumulator, StreamFrame, SemconvMessage, SemconvPart } from './accumulator.ts';
export { DEFAULT_MAX_TEXT_BYTES } from './accumulator.ts';
export { createAdapter, summarizeRequest, type Adapter, type CreateAdapterOptions } from './create-adapter.ts';
export { detectApi, type DetectInput, type DetectedApi } from './detect.ts';
export { createSseParser, type SseEvent, type SseParser, type SseParserOptions } from './sse-parser.ts';
export { createNdjsonParser, type NdjsonLine, type NdjsonParser, type NdjsonParserOptions } from './ndjson-parser.ts';
export { createOpenAIChatAccumulator, fromOpenAIChatResponse, summarizeOpenAIChatRequest } from './openai-chat.ts';
export { createOpenAIResponsesAccumulator, fromOpenAIResponsesResponse, summarizeOpenAIResponsesRequest } from './openai-responses.ts';
export { fromOpenAIEmbeddingsResponse, summarizeOpenAIEmbeddingsRequest } from './openai-embeddings.ts';
export { createOpenAICompletionsAccumulator, fromOpenAICompletionsResponse, summarizeOpenAICompletionsRequest } from './openai-completions.ts';
export { createAnthropicAccumulator, fromAnthropicResponse, summarizeAnthropicRequest } from './anthropic-messages.ts';
export { createOllamaAccumulator, fromOllamaResponse, ollamaCallId, summarizeOllamaRequest } from './ollama.ts';
export { opaqueExchange, summarizeOpaqueRequest } from './opaque.ts';
