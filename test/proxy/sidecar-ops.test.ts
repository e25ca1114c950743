// The assembled sidecar's operations surface (docs/configuration.md "Admin server"), in-process over the real
// audit log writer: /metrics scraped over HTTP after traffic (every metric docs/configuration.md names exists
// and moves), /readyz turning 503 while appends fail under onLogFailure: block (injected ENOSPC
// through the writer's LogFs), and /v1/proof/consistency?from=A&to=B for a B below the latest.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSignerKey, parseVerifierKey } from '../../sidecar/src/auditlog/signed-note.ts';
import { verifyConsistencyBundle } from '../../sidecar/src/auditlog/proof-bundle.ts';
import type { LogFs } from '../../sidecar/src/auditlog/log-fs.ts';
import { faultySegmentFs } from '../../sidecar/src/auditlog/test-support.ts';
import type { ConsistencyProofBundle } from '../../sidecar/src/auditlog/types.ts';
import { resolveConfig } from '../../sidecar/src/config/load.ts';
import { startSidecar, type Sidecar } from '../../sidecar/src/sidecar.ts';
import { startReplayUpstream, type ReplayUpstream } from '../support/replay-upstream.ts';

const ENV = { POD_NAME: 'ops-0', POD_NAMESPACE: 'shop', POD_UID: 'uid-ops' };
const CHAT = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } });

describe('sidecar operations', () => {
  let dir: string;
  let up: ReplayUpstream;
  let sidecar: Sidecar | null = null;
  const key = generateSignerKey('llmaudit.dev/shop/policy');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-ops-'));
    up = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: [CHAT] });
  });
  afterEach(async () => {
    await sidecar?.close({ drainMs: 0 });
    sidecar = null;
    await up.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(extra: Record<string, unknown>, logFs?: LogFs) {
    const file = { path: path.join(dir, 'config.json'), text: JSON.stringify({ listeners: [{ port: 0, defaultEndpoint: 'openai' }], endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], admin: { port: 0 }, log: { dir: path.join(dir, 'logs') }, ...extra }) };
    const config = resolveConfig({ flags: {}, env: ENV, hostname: 'h', cwd: dir, file }).config;
    sidecar = await startSidecar(config, { logger: pino({ level: 'silent' }), signerKey: key.signerKey, resource: { serviceName: 'ops' }, ...(logFs === undefined ? {} : { logFs }) });
    return { s: sidecar, admin: `http://127.0.0.1:${sidecar.admin.port}`, proxy: `http://127.0.0.1:${sidecar.listeners[0]!.port}` };
  }
  const chat = (proxy: string, content = 'hello') =>
    fetch(`${proxy}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }) });
  const value = (text: string, series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    if (line === undefined) throw new Error(`no series ${series} in /metrics`);
    return Number(line.slice(series.length + 1));
  };

  it('/metrics, scraped after traffic, has every documented metric and they moved', async () => {
    const { admin, proxy } = await start({ capture: { maxBodyBytes: 256 } });
    const before = await (await fetch(`${admin}/metrics`)).text();
    expect(before).toMatch(/^# TYPE llmaudit_exchanges_total counter$/m);
    const r1 = await chat(proxy);
    expect(r1.status).toBe(200);
    await r1.text();
    await (await chat(proxy, 'x'.repeat(1000))).text(); // a request body over the 256-byte cap: truncated
    await up.close(); // the upstream goes away: a failure
    const down = await chat(proxy);
    expect(down.status).toBe(502);
    await down.text();

    const res = await fetch(`${admin}/metrics`);
    expect(res.status).toBe(200);
    const m = await res.text();
    expect(value(m, 'llmaudit_exchanges_total{endpoint="openai",api="openai.chat",status="200"}')).toBe(2);
    expect(value(m, 'llmaudit_exchanges_total{endpoint="openai",api="openai.chat",status="502"}')).toBe(1);
    expect(value(m, 'llmaudit_exchange_duration_seconds_count{endpoint="openai",api="openai.chat"}')).toBe(3);
    expect(value(m, 'llmaudit_exchange_ttfb_seconds_count{endpoint="openai",api="openai.chat"}')).toBe(2);
    expect(value(m, 'llmaudit_tokens_total{endpoint="openai",model="gpt-4o-mini",direction="input"}')).toBe(22);
    expect(value(m, 'llmaudit_tokens_total{endpoint="openai",model="gpt-4o-mini",direction="output"}')).toBe(4);
    expect(value(m, 'llmaudit_log_append_duration_seconds_count')).toBe(3);
    expect(value(m, 'llmaudit_log_queue_depth')).toBe(0);
    expect(value(m, 'llmaudit_log_failures_total')).toBe(0);
    expect(value(m, 'llmaudit_captured_bytes_total{direction="request"}')).toBeGreaterThan(1000);
    expect(value(m, 'llmaudit_captured_bytes_total{direction="response"}')).toBeGreaterThanOrEqual(2 * CHAT.length);
    expect(value(m, 'llmaudit_capture_truncations_total{direction="request",reason="cap"}')).toBe(1);
    expect(value(m, 'llmaudit_failures_total{reason="upstream_unreachable"}')).toBe(1);
    expect(value(m, 'llmaudit_inflight_exchanges')).toBe(0);
    expect(m).toMatch(/^# TYPE llmaudit_config_reloads_total counter$/m);
    expect(m).toMatch(/^# TYPE llmaudit_media_extracted_total counter$/m);
    expect(m).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('llmaudit_inflight_exchanges counts an exchange held open at scrape time, and drops back once it ends', async () => {
    const { admin, proxy } = await start({});
    up.gate(0); // the upstream holds its answer: the exchange stays in flight
    const pending = chat(proxy);
    await up.received(1);
    expect(value(await (await fetch(`${admin}/metrics`)).text(), 'llmaudit_inflight_exchanges')).toBe(1);
    up.release(0);
    await (await pending).text();
    await sidecar?.log.flush(); // the exchange is done once its entry is appended
    expect(value(await (await fetch(`${admin}/metrics`)).text(), 'llmaudit_inflight_exchanges')).toBe(0);
  });

  it('onLogFailure: block — /readyz is 503 while appends fail and ready again once one lands', async () => {
    let broken = false;
    const { s, admin, proxy } = await start({ log: { dir: path.join(dir, 'logs'), onLogFailure: 'block', durability: 'strict' } }, faultySegmentFs('ENOSPC', () => broken));
    const ready = async () => {
      const r = await fetch(`${admin}/readyz`);
      return { status: r.status, body: (await r.json()) as { reasons: string[] } };
    };
    expect((await ready()).status).toBe(200);
    await (await chat(proxy)).text();
    broken = true;
    // strict: the answer is held until its append, which fails: the client never sees it complete.
    await expect(chat(proxy).then((res) => res.text())).rejects.toThrow();
    const refused = await chat(proxy); // the gate is shut: 503 without forwarding
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('LLMAUDIT_E_LOG_UNAVAILABLE');
    const r = await ready();
    expect(r.status).toBe(503);
    expect(r.body.reasons).toContain('audit log appends are failing (onLogFailure: block)');
    broken = false;
    const probe = await chat(proxy); // refused too, but its entry lands: the gate and readiness reopen
    expect(probe.status).toBe(503);
    await probe.text();
    expect((await ready()).status).toBe(200);
    // The 503 carries x-llmaudit-id, the id of the entry recording the refusal.
    const last = await s.log.inclusionProof(s.log.size - 1);
    expect(probe.headers.get('x-llmaudit-id')).toBe(last.entry.id);
    expect(refused.headers.get('x-llmaudit-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(up.requests).toHaveLength(2);
  });

  it('/v1/proof/consistency?from=A&to=B proves to an earlier signed checkpoint, not only the latest', async () => {
    const { s, admin, proxy } = await start({});
    const verifier = parseVerifierKey(key.verifierKey);
    await (await chat(proxy)).text();
    const atOne = await s.log.checkpoint();
    for (let i = 0; i < 2; i++) await (await chat(proxy)).text();
    const atThree = await s.log.checkpoint();
    for (let i = 0; i < 2; i++) await (await chat(proxy)).text();
    await s.log.checkpoint();
    expect(s.log.size).toBe(5);

    const mid = await fetch(`${admin}/v1/proof/consistency?from=1&to=3`);
    expect(mid.status).toBe(200);
    const b = (await mid.json()) as ConsistencyProofBundle;
    expect(b).toMatchObject({ fromSize: 1, toSize: 3, checkpoint: atThree });
    expect(verifyConsistencyBundle(atOne, b, [verifier])).toBe(true);
    const latest = (await (await fetch(`${admin}/v1/proof/consistency?from=3`)).json()) as ConsistencyProofBundle;
    expect(latest.toSize).toBe(5);
    expect(verifyConsistencyBundle(atThree, latest, [verifier])).toBe(true);

    const codes = await Promise.all(
      ['from=1&to=2', 'from=3&to=1', 'from=1&to=99'].map(async (q) => {
        const r = await fetch(`${admin}/v1/proof/consistency?${q}`);
        return [r.status, ((await r.json()) as { error: { code: string } }).error.code];
      }),
    );
    // 2: no checkpoint was signed at that size; 3 > 1; 99 is beyond the log.
    expect(codes).toEqual([
      [404, 'LLMAUDIT_E_ADMIN_PROOF_RANGE'],
      [404, 'LLMAUDIT_E_ADMIN_PROOF_RANGE'],
      [404, 'LLMAUDIT_E_ADMIN_PROOF_RANGE'],
    ]);
  });
});
