// The assembled sidecar in-process: admin endpoints over a real audit log, readiness, metrics,
// and a hot reload through a kubelet-style ConfigMap swap that reroutes traffic.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReplayUpstream, type ReplayUpstream } from '../../test/support/replay-upstream.ts';
import { generateSignerKey, parseVerifierKey } from './auditlog/signed-note.ts';
import { verifyConsistencyBundle, verifyProofBundle } from './auditlog/proof-bundle.ts';
import type { ConsistencyProofBundle, InclusionProofBundle } from './auditlog/types.ts';
import { resolveConfig } from './config/load.ts';
import { restartOnlyChanges, startSidecar, type Sidecar } from './sidecar.ts';

const ENV = { POD_NAME: 'chat-0', POD_NAMESPACE: 'shop', POD_UID: 'uid-1' };
const configYaml = (upstream: string, logDir: string) => `
listeners: [{ port: 0, defaultEndpoint: openai }]
endpoints: [{ name: openai, upstream: "${upstream}", api: openai }]
admin: { port: 0 }
log: { dir: ${logDir}, keyFile: /unused }
`;

describe('startSidecar', () => {
  let dir: string;
  let up1: ReplayUpstream;
  let up2: ReplayUpstream;
  let sidecar: Sidecar | null = null;
  const key = generateSignerKey('llmaudit.dev/shop/policy');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-sidecar-'));
    up1 = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: ['{"from":"one"}'] });
    up2 = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: ['{"from":"two"}'] });
  });
  afterEach(async () => {
    await sidecar?.close({ drainMs: 0 });
    sidecar = null;
    await Promise.all([up1.close(), up2.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  async function start() {
    // The kubelet ConfigMap layout: config.yaml → ..data/config.yaml, ..data → ..<timestamp>.
    const cm = path.join(dir, 'cm');
    await mkdir(path.join(cm, '..v1'), { recursive: true });
    await writeFile(path.join(cm, '..v1', 'config.yaml'), configYaml(up1.url, path.join(dir, 'logs')));
    await symlink('..v1', path.join(cm, '..data'));
    await symlink('..data/config.yaml', path.join(cm, 'config.yaml'));
    const file = path.join(cm, 'config.yaml');
    const parse = (text: string) => resolveConfig({ flags: {}, env: ENV, hostname: 'h', cwd: dir, file: { path: file, text } }).config;
    const text = configYaml(up1.url, path.join(dir, 'logs'));
    sidecar = await startSidecar(parse(text), {
      logger,
      signerKey: key.signerKey,
      resource: { serviceName: 'chat' },
      watch: { file, initialText: text, parse, debounceMs: 10, pollMs: 0 },
    });
    const admin = `http://127.0.0.1:${sidecar.admin.port}`;
    const proxy = `http://127.0.0.1:${sidecar.listeners[0]!.port}`;
    const swap = async (upstream: string) => {
      await mkdir(path.join(cm, '..v2'));
      await writeFile(path.join(cm, '..v2', 'config.yaml'), configYaml(upstream, path.join(dir, 'logs')));
      await symlink('..v2', path.join(cm, '..data_tmp'));
      await rename(path.join(cm, '..data_tmp'), path.join(cm, '..data'));
      await rm(path.join(cm, '..v1'), { recursive: true });
    };
    return { s: sidecar, admin, proxy, swap };
  }

  const get = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, init);
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  it('serves health, readiness, metrics, checkpoints and proofs on the admin port', async () => {
    const { s, admin, proxy } = await start();
    expect(await get(`${admin}/healthz`)).toMatchObject({ status: 200, text: '{"status":"ok"}\n' });
    expect(JSON.parse((await get(`${admin}/readyz`)).text)).toEqual({ status: 'ready', reasons: [] });
    expect(JSON.parse((await get(`${admin}/v1/checkpoint`)).text)).toMatchObject({ error: { code: expect.stringMatching(/^LLMAUDIT_E_ADMIN_NO_CHECKPOINT$/) } });

    const post = () => get(`${proxy}/v1/chat/completions`, { method: 'POST', body: '{"model":"m","messages":[]}', headers: { 'content-type': 'application/json' } });
    expect((await post()).status).toBe(200);
    const atOne = await s.log.checkpoint();
    for (let i = 0; i < 2; i++) expect((await post()).status).toBe(200);
    const older = await s.log.checkpoint();
    expect(s.log.size).toBe(3);

    const cp = await get(`${admin}/v1/checkpoint`);
    expect(cp).toMatchObject({ status: 200, type: 'text/plain; charset=utf-8', text: older });
    expect(cp.text.split('\n').slice(0, 2)).toEqual(['llmaudit.dev/shop/chat-0/uid-1', '3']);

    const verifier = parseVerifierKey(key.verifierKey);
    const inc = await get(`${admin}/v1/proof/inclusion?seq=1`);
    expect(inc.status).toBe(200);
    const bundle = JSON.parse(inc.text) as InclusionProofBundle;
    expect(bundle.index).toBe(1);
    verifyProofBundle(bundle, [verifier]);

    const cons = await get(`${admin}/v1/proof/consistency?from=1&to=3`);
    expect(cons.status).toBe(200);
    const cb = JSON.parse(cons.text) as ConsistencyProofBundle;
    expect(cb).toMatchObject({ fromSize: 1, toSize: 3 });
    expect(verifyConsistencyBundle(atOne, cb, [verifier])).toBe(true);

    const errors = await Promise.all([
      get(`${admin}/v1/proof/inclusion?seq=abc`),
      get(`${admin}/v1/proof/inclusion`),
      get(`${admin}/v1/proof/inclusion?seq=99`),
      get(`${admin}/v1/proof/consistency?from=1&to=2`),
      get(`${admin}/nope`),
      get(`${admin}/metrics`, { method: 'POST' }),
    ]);
    expect(errors.map((e) => [e.status, (JSON.parse(e.text) as { error: { code: string } }).error.code])).toEqual([
      [400, 'LLMAUDIT_E_ADMIN_BAD_QUERY'],
      [400, 'LLMAUDIT_E_ADMIN_BAD_QUERY'],
      [404, 'LLMAUDIT_E_LOG_NOT_FOUND'],
      [404, 'LLMAUDIT_E_ADMIN_PROOF_RANGE'],
      [404, 'LLMAUDIT_E_ADMIN_NOT_FOUND'],
      [405, 'LLMAUDIT_E_ADMIN_METHOD'],
    ]);

    const metrics = await get(`${admin}/metrics`);
    expect(metrics.type).toContain('text/plain');
    expect(metrics.text).toMatch(/^llmaudit_exchanges_total\{endpoint="openai",api="[a-z.-]+",status="200"\} 3$/m);
    expect(metrics.text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(metrics.text).toMatch(/^llmaudit_log_queue_depth 0$/m);
  });

  it('hot-reloads a ConfigMap swap: new exchanges go to the new upstream', async () => {
    const { s, admin, proxy, swap } = await start();
    const call = async () => (await get(`${proxy}/v1/chat/completions`, { method: 'POST', body: '{}' })).text;
    expect(await call()).toBe('{"from":"one"}');
    const reloaded = new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (s.config().endpoints[0]?.upstream === up2.url) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    await swap(up2.url);
    await reloaded;
    expect(await call()).toBe('{"from":"two"}');
    expect((await get(`${admin}/metrics`)).text).toMatch(/^llmaudit_config_reloads_total\{result="ok"\} 1$/m);
    expect(lines.some((l) => l.msg === 'config reloaded')).toBe(true);
  });

  it('close drains, seals a checkpoint and turns readiness off', async () => {
    const { s, proxy } = await start();
    await get(`${proxy}/v1/chat/completions`, { method: 'POST', body: '{}' });
    expect(await s.close()).toBe(true);
    expect(s.readiness()).toEqual({ ready: false, reasons: ['shutting down', 'proxy listeners are not up'] });
    expect(s.log.latestCheckpoint()?.split('\n')[1]).toBe('1');
    expect(await s.close()).toBe(true); // idempotent
    sidecar = null;
  });
});

describe('restartOnlyChanges', () => {
  const parse = (text: string) => resolveConfig({ flags: {}, env: ENV, hostname: 'h', cwd: '/', file: { path: '/c.yaml', text } }).config;
  const base = 'listeners: [{port: 1, defaultEndpoint: a}]\nendpoints: [{name: a, upstream: "http://a"}, {name: b, upstream: "http://b"}]\n';
  it('names what needs a restart and nothing that reloads', () => {
    expect(restartOnlyChanges(parse(base), parse(base.replace('defaultEndpoint: a', 'defaultEndpoint: b').replace('http://a', 'http://c')))).toEqual([]);
    expect(restartOnlyChanges(parse(base), parse(`${base}log: {durability: strict}\nadmin: {port: 1}\n`))).toEqual(['log', 'admin']);
    expect(restartOnlyChanges(parse(base), parse(base.replace('port: 1', 'port: 2')))).toEqual(['listeners']);
  });

  it('names a changed witness, which the running pusher does not pick up', () => {
    // Regression: a new witness.url was reloaded silently while checkpoints kept going to the old witness.
    expect(restartOnlyChanges(parse(base), parse(`${base}witness: {url: "http://w:8444/ns/p"}\n`))).toEqual(['witness']);
    expect(restartOnlyChanges(parse(`${base}witness: {url: "http://w:8444/ns/p"}\n`), parse(`${base}witness: {url: "http://w:8444/ns/p", intervalSeconds: 5}\n`))).toEqual(['witness']);
  });
});
