/**
 * Span names and attributes (pure), from the GenAI semantic conventions pinned in semconv.ts.
 * Content attributes (messages, system instructions, tool definitions) only when
 * `captureContent` is on: the audit log holds content; spans usually go to a shared backend.
 */
import type { Attributes } from '@opentelemetry/api';
import type { NormalizedExchange, ToolCall } from '../adapters/types.ts';
import { errorTypeOf } from './classify.ts';
import * as S from './semconv.ts';
import type { ExchangeOutcome, TraceRequestInfo } from './types.ts';
import type { TraceSource } from './span-identity.ts';

/** `{gen_ai.operation.name} {gen_ai.request.model}`; opaque traffic is named by its HTTP method (HTTP semconv). */
export function exchangeSpanName(info: TraceRequestInfo, responseModel?: string | null): string {
  const req = info.request;
  if (req === null || req.api === 'opaque') return info.method;
  const model = req.requestModel ?? responseModel ?? null;
  return model === null ? req.operation : `${req.operation} ${model}`;
}

export function startAttributes(info: TraceRequestInfo, extra: { conversationId: string | null; requestType: string | null; source: TraceSource }): Attributes {
  const a: Attributes = {
    [S.SERVER_ADDRESS]: info.serverAddress,
    [S.SERVER_PORT]: info.serverPort,
    [S.LLMAUDIT_ENDPOINT]: info.endpoint,
    [S.LLMAUDIT_TRACE_SOURCE]: extra.source,
  };
  const req = info.request;
  if (req !== null) {
    a[S.GEN_AI_OPERATION_NAME] = req.operation;
    a[S.GEN_AI_PROVIDER_NAME] = req.provider;
    a[S.GEN_AI_REQUEST_STREAM] = req.stream;
    a[S.LLMAUDIT_API] = req.api;
    if (req.requestModel !== null) a[S.GEN_AI_REQUEST_MODEL] = req.requestModel;
    if (req.toolResults.length > 0) a[S.LLMAUDIT_TOOL_RESULT_COUNT] = req.toolResults.length;
  }
  if (extra.conversationId !== null) a[S.GEN_AI_CONVERSATION_ID] = extra.conversationId;
  if (extra.requestType !== null) a[S.LLMAUDIT_REQUEST_TYPE] = extra.requestType;
  return a;
}

export function endAttributes(outcome: ExchangeOutcome): Attributes {
  const a: Attributes = {
    [S.LLMAUDIT_SPAN_TYPE]: outcome.spanType,
    [S.LLMAUDIT_ORIGIN]: outcome.origin,
  };
  if (outcome.status > 0) a[S.HTTP_RESPONSE_STATUS_CODE] = outcome.status;
  if (outcome.seq !== null) a[S.LLMAUDIT_SEQ] = outcome.seq;
  if (outcome.entryHash !== null) a[S.LLMAUDIT_ENTRY_HASH] = outcome.entryHash;
  const x = outcome.exchange;
  if (x !== null) {
    if (x.responseModel !== null) a[S.GEN_AI_RESPONSE_MODEL] = x.responseModel;
    if (x.responseId !== null) a[S.GEN_AI_RESPONSE_ID] = x.responseId;
    if (x.finishReasons.length > 0) a[S.GEN_AI_RESPONSE_FINISH_REASONS] = x.finishReasons;
    if (x.usage.inputTokens !== null) a[S.GEN_AI_USAGE_INPUT_TOKENS] = x.usage.inputTokens;
    if (x.usage.outputTokens !== null) a[S.GEN_AI_USAGE_OUTPUT_TOKENS] = x.usage.outputTokens;
    if (x.usage.cacheReadTokens !== undefined) a[S.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = x.usage.cacheReadTokens;
    if (x.usage.cacheCreationTokens !== undefined) a[S.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = x.usage.cacheCreationTokens;
    if (x.usage.reasoningTokens !== undefined) a[S.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = x.usage.reasoningTokens;
    if (x.toolCalls.length > 0) a[S.LLMAUDIT_TOOL_CALL_COUNT] = x.toolCalls.length;
    // Semconv: time to first chunk of a *streamed* response, in seconds.
    if (x.stream && outcome.ttfbMs !== null) a[S.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = outcome.ttfbMs / 1000;
  }
  const g = outcome.governance;
  if (g !== undefined) {
    a[S.LLMAUDIT_GOVERNANCE_DECISION] = g.decision;
    a[S.LLMAUDIT_GOVERNANCE_MODE] = g.mode;
    a[S.LLMAUDIT_GOVERNANCE_RISK] = g.risk;
    if (g.reasons.length > 0) a[S.LLMAUDIT_GOVERNANCE_REASONS] = g.reasons;
    if (g.detectors.length > 0) a[S.LLMAUDIT_GOVERNANCE_DETECTORS] = g.detectors;
    if (g.costUsd !== null) a[S.LLMAUDIT_USAGE_COST_USD] = g.costUsd;
  }
  if (outcome.spanType === 'ERROR') {
    a[S.ERROR_TYPE] = errorTypeOf({ exchange: x, status: outcome.status, errorType: outcome.errorType }) ?? '_OTHER';
  }
  return a;
}

function toolCallPart(c: ToolCall): Record<string, unknown> {
  let args: unknown = c.arguments;
  try {
    args = JSON.parse(c.arguments);
  } catch {
    // keep the text as the model produced it
  }
  return { type: 'tool_call', id: c.id, name: c.name, arguments: args };
}

/**
 * gen_ai.input.messages / output.messages / system_instructions / tool.definitions, as JSON
 * strings in the shapes of the semconv JSON schemas (gen-ai-input-messages.json, ...).
 */
export function contentAttributes(x: NormalizedExchange): Attributes {
  const a: Attributes = {};
  if (x.messages.input !== undefined) a[S.GEN_AI_INPUT_MESSAGES] = JSON.stringify(x.messages.input);
  if (x.messages.system !== null) a[S.GEN_AI_SYSTEM_INSTRUCTIONS] = JSON.stringify([{ type: 'text', content: x.messages.system }]);
  if (x.messages.toolDefinitions.length > 0) {
    a[S.GEN_AI_TOOL_DEFINITIONS] = JSON.stringify(x.messages.toolDefinitions.map((d) => ({ type: 'function', ...d })));
  }
  const parts: Array<Record<string, unknown>> = [];
  if (x.reasoningText !== null) parts.push({ type: 'reasoning', content: x.reasoningText });
  if (x.outputText !== null) parts.push({ type: 'text', content: x.outputText });
  for (const c of x.toolCalls) parts.push(toolCallPart(c));
  if (parts.length > 0) {
    a[S.GEN_AI_OUTPUT_MESSAGES] = JSON.stringify([{ role: 'assistant', parts, ...(x.finishReasons[0] === undefined ? {} : { finish_reason: x.finishReasons[0] }) }]);
  }
  return a;
}
