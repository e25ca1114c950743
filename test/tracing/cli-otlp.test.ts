/**
 * The whole sidecar as `llmaudit proxy --otlp-endpoint URL` runs it (runProxy: config loading,
 * downward-API env, wiring), in Kubernetes mode: spans reach `URL/v1/traces` with the pod's
 * resource attributes, and the telemetry counters are on the admin port's /metrics.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { runProxy } from '../../sidecar/src/main.ts';
import { ensureSigningKey } from '../../sidecar/src/config/standalone-key.ts';
import type { Sidecar } from '../../sidecar/src/sidecar.ts';
import { SPAN_KIND_CLIENT, startOtlpReceiver } from '../support/otlp-receiver.ts';
import { startReplayUpstream } from '../support/replay-upstream.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

/** Runs the proxy in-process as the CLI does; `stop` takes the SIGTERM path and returns the exit code. */
async function startProxy(dir: string, flags: Parameters<typeof runProxy>[0]['flags'], env: Record<string, string>): Promise<{ sidecar: Sidecar; stop: () => Promise<number> }> {
  let stop: (s: string) => void = () => undefined;
  let started: (s: Sidecar) => void = () => undefined;
  const running = new Promise<Sidecar>((r) => (started = r));
  const exit = runProxy({
    flags,
    env,
    cwd: dir,
    hostname: 'box',
    stderr: () => undefined,
    logDestination: { write: () => undefined },
    shutdownSignal: new Promise((r) => (stop = r)),
    onStarted: (s) => started(s),
  });
  cleanups.push(async () => {
    stop('cleanup');
    await exit;
  });
  return { sidecar: await running, stop: () => (stop('test'), exit) };
}

const POD = { POD_NAME: 'chat-5d8f7c9b6-x2x9k', POD_NAMESPACE: 'shop', POD_UID: '6f1c0d2e-uid' };

describe('llmaudit proxy --otlp-endpoint', () => {
  it('exports spans to <url>/v1/traces with the downward-API resource, and counts them on /metrics', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-cli-otlp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const receiver = await startOtlpReceiver(); // answers 404 on any path but /v1/traces
    cleanups.push(() => receiver.close());
    const upstream = await startReplayUpstream({
      headers: { 'content-type': 'application/json' },
      frames: [JSON.stringify({ id: 'chatcmpl-9', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })],
    });
    cleanups.push(() => upstream.close());
    const key = path.join(dir, 'signing.key');
    await ensureSigningKey(key, `llmaudit.dev/${POD.POD_NAMESPACE}/${POD.POD_NAME}/${POD.POD_UID}`);

    const { sidecar, stop } = await startProxy(
      dir,
      // A trailing slash on the base URL must not become `//v1/traces`.
      { upstream: upstream.url, listen: ['127.0.0.1:0'], admin: '127.0.0.1:0', logDir: path.join(dir, 'logs'), key, otlpEndpoint: `${receiver.url}/` },
      { ...POD, LLMAUDIT_APP_CONTAINER: 'app', LLMAUDIT_LOG_LEVEL: 'warn' },
    );
    expect(sidecar.config().telemetry.otlpEndpoint).toBe(`${receiver.url}/`);
    const port = sidecar.listeners[0]!.port;
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    expect(r.choices[0]!.message.content).toBe('Hi.');

    const [span] = await receiver.waitFor((s) => s.length >= 1); // default export interval: 1 s
    expect(span).toMatchObject({ name: 'chat gpt-4o-mini', kind: SPAN_KIND_CLIENT });
    expect(span!.attributes['llmaudit.origin']).toBe(`llmaudit.dev/shop/${POD.POD_NAME}/${POD.POD_UID}`);
    expect(span!.resource).toMatchObject({
      'service.name': 'chat', // the Deployment behind the pod name
      'k8s.namespace.name': 'shop',
      'k8s.pod.name': POD.POD_NAME,
      'k8s.pod.uid': POD.POD_UID,
      'k8s.container.name': 'app',
    });

    // The exporter counts the span when it reads the collector's answer, which can come after
    // the receiver saw the span: scrape until it has (each scrape is a real round trip).
    const scrape = async () => (await fetch(`http://127.0.0.1:${sidecar.admin.port}/metrics`)).text();
    let metrics = await scrape();
    for (let i = 0; i < 100 && !/^llmaudit_telemetry_spans_exported_total 1$/m.test(metrics); i++) metrics = await scrape();
    expect(metrics).toMatch(/^llmaudit_telemetry_spans_exported_total 1$/m);
    expect(metrics).toContain('llmaudit_telemetry_spans_dropped_total');
    expect(metrics).toContain('llmaudit_telemetry_tool_call_evictions_total');

    expect(await stop()).toBe(0);
  });

  it('hot-reloads the export settings from the config file: endpoint, headers, sampling', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-cli-otlp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const a = await startOtlpReceiver();
    cleanups.push(() => a.close());
    const b = await startOtlpReceiver();
    cleanups.push(() => b.close());
    const upstream = await startReplayUpstream({
      headers: { 'content-type': 'application/json' },
      frames: [JSON.stringify({ id: 'chatcmpl-9', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }] })],
    });
    cleanups.push(() => upstream.close());
    const file = path.join(dir, 'config.yaml');
    const yaml = (endpoint: string, extra: string) =>
      `listeners: [{port: 0, defaultEndpoint: llm}]\nendpoints: [{name: llm, upstream: "${upstream.url}"}]\nadmin: {port: 0}\n` +
      `telemetry: {otlpEndpoint: "${endpoint}", exportIntervalMs: 10${extra}}\n`;
    await writeFile(file, yaml(a.url, ''));
    const { sidecar, stop } = await startProxy(dir, { config: file, logDir: path.join(dir, 'logs') }, { LLMAUDIT_LOG_LEVEL: 'warn' });
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${sidecar.listeners[0]!.port}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const ask = (content: string) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
    await ask('before the reload');
    await a.waitFor((s) => s.length >= 1);

    await writeFile(file, yaml(b.url, ', headers: {x-api-key: k2}, samplingRatio: 1'));
    const deadline = Date.now() + 20_000; // the watcher polls and debounces the file
    while (sidecar.config().telemetry.otlpEndpoint !== b.url && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sidecar.config().telemetry.otlpEndpoint).toBe(b.url);
    await ask('after the reload');
    const [moved] = await b.waitFor((s) => s.length >= 1);
    expect(moved!.name).toBe('chat gpt-4o-mini');
    expect(b.lastHeaders['x-api-key']).toBe('k2');
    expect(a.spans).toHaveLength(1);

    expect(await stop()).toBe(0);
  });
});
