/**
 * The normalized exchange: what a protocol adapter (pure function, one per API family) makes of a
 * request body and the response events. The proxy stores `reconstructed` as the response body,
 * the tracer classifies the exchange and builds its span from the rest.
 */

export type ApiKind =
  | 'openai.chat'
  | 'openai.responses'
  | 'openai.embeddings'
  | 'openai.completions'
  | 'anthropic.messages'
  | 'ollama.chat'
  | 'ollama.generate'
  | 'ollama.embed'
  | 'opaque';

/** gen_ai.provider.name values (OTel GenAI semconv), plus our custom ones. */
export type ProviderName = 'openai' | 'azure.ai.openai' | 'anthropic' | 'ollama' | 'vllm' | 'unknown';

/** gen_ai.operation.name values. */
export type OperationName = 'chat' | 'text_completion' | 'embeddings' | 'generate_content' | 'unknown';

export interface ToolCall {
  id: string; // provider's call id (OpenAI call_..., Anthropic toolu_..., Ollama: synthesized)
  name: string;
  arguments: string; // JSON text as the model produced it
}

export interface ToolResult {
  callId: string;
  name?: string; // Ollama tool_name; else resolved from the request's own earlier turns if present
  content?: string; // text (joined if the API sends an array)
  isError?: boolean;
}

export interface MessageSummary {
  count: number;
  roles: Record<string, number>;
  /** System prompt text (system message(s), Anthropic `system`, Responses `instructions`). */
  system: string | null;
  /** First user message text. With `system`, derives the conversation id. */
  firstUser: string | null;
  /** True when the request carries assistant or tool turns (so it does not open a conversation). */
  hasHistory: boolean;
  toolDefinitions: Array<{ name: string; description?: string }>;
  /** Input messages in the GenAI semconv shape, for opt-in content capture on spans. */
  input?: unknown[];
}

export interface Usage {
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens?: number;
  cacheCreationTokens?: number;
  reasoningTokens?: number;
}

export interface NormalizedExchange {
  api: ApiKind;
  provider: ProviderName;
  operation: OperationName;
  stream: boolean;
  requestModel: string | null;
  responseModel: string | null;
  responseId: string | null;
  messages: MessageSummary;
  toolResults: ToolResult[]; // tool results the request carries
  toolCalls: ToolCall[]; // tool calls the response asks for
  outputText: string | null;
  reasoningText: string | null;
  finishReasons: string[];
  usage: Usage;
  /** The response as the equivalent non-streamed object (for the log). null for opaque bodies. */
  reconstructed: unknown;
  /** Frames/chunks seen (SSE events or NDJSON lines). */
  chunks: number;
  /** An error the API reported in the body or stream (mid-stream `error` event, `{"error":...}`). */
  apiError: { type: string; message: string } | null;
  /** The stream ended as the protocol says it should ([DONE], message_stop, done:true...). */
  complete: boolean;
  /** Set when output text, reasoning or tool arguments were cut at the adapter's size bound. */
  truncated?: boolean;
  /** Frames (or the whole body) that were not valid JSON; the exchange is still produced. */
  malformedFrames?: number;
  /** The model's refusal text (OpenAI `refusal`), when it refused. */
  refusal?: string;
}
