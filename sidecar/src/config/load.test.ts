import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLlmauditError } from '../errors.ts';
import { loadConfig, parseHostPort, resolveConfig, type ResolveInput } from './load.ts';

const base = (over: Partial<ResolveInput> = {}): ResolveInput => ({ flags: {}, env: {}, hostname: 'laptop', cwd: '/home/me', file: null, ...over });

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (isLlmauditError(err, 'LLMAUDIT_E_CONFIG_INVALID')) return err.details?.problems as string[];
    throw err;
  }
  throw new Error('expected LLMAUDIT_E_CONFIG_INVALID');
}

const K8S_ENV = { POD_NAME: 'chat-7d9f', POD_NAMESPACE: 'shop', POD_UID: '0b1c-22', NODE_NAME: 'node-1' };
const K8S_YAML = `
version: 1
policy: default-policy
listeners:
  - { address: 127.0.0.1, port: 11434, defaultEndpoint: ollama }
endpoints:
  - { name: ollama, upstream: "http://127.0.0.1:11435", api: ollama }
log:
  dir: /var/lib/llmaudit
  keyFile: /etc/llmaudit/signing/signing.key
`;

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:8080', { address: '127.0.0.1', port: 8080 }],
    ['0.0.0.0:0', { address: '0.0.0.0', port: 0 }],
    ['localhost:11434', { address: 'localhost', port: 11434 }],
    ['[::1]:9090', { address: '::1', port: 9090 }],
    [':8080', { address: '127.0.0.1', port: 8080 }],
    ['8080', { address: '127.0.0.1', port: 8080 }],
  ])('%s', (text, want) => expect(parseHostPort(text)).toEqual(want));

  it.each(['host', 'host:', 'host:70000', '::1:80', 'a b:80', 'host:8o', '[::1]80'])('rejects %s', (text) => expect(parseHostPort(text)).toBeNull());
});

describe('resolveConfig: standalone', () => {
  it('`--upstream URL` alone gives a working config: listener, default endpoint, origin, chain dir and a key to generate', () => {
    const r = resolveConfig(base({ flags: { upstream: 'http://127.0.0.1:11434' } }));
    expect(r.mode).toBe('standalone');
    expect(r.generateKey).toBe(true);
    expect(r.config.listeners).toEqual([{ address: '127.0.0.1', port: 8080, defaultEndpoint: 'default' }]);
    expect(r.config.endpoints).toEqual([{ name: 'default', upstream: 'http://127.0.0.1:11434', api: 'auto' }]);
    expect(r.config.origin).toBe('llmaudit.dev/local/laptop');
    expect(r.config.log.dir).toBe('/home/me/llmaudit-logs');
    expect(r.config.log.chainDir).toBe('/home/me/llmaudit-logs/local/laptop');
    expect(r.config.log.keyFile).toBe('/home/me/llmaudit-logs/signing.key');
    expect(r.config.log.durability).toBe('batched');
    expect(Object.isFrozen(r.config.log)).toBe(true);
  });

  it('maps every flag onto its key', () => {
    const r = resolveConfig(
      base({
        flags: {
          listen: ['127.0.0.1:0', '[::1]:8081'],
          upstream: 'http://127.0.0.1:11434',
          endpoint: ['openai=https://api.openai.com', 'anthropic=https://api.anthropic.com'],
          logDir: 'logs',
          key: '/keys/k.key',
          origin: 'example.com/me/dev',
          admin: '127.0.0.1:0',
          durability: 'strict',
          otlpEndpoint: 'http://127.0.0.1:4318',
        },
      }),
    );
    expect(r.generateKey).toBe(false);
    expect(r.config.listeners).toEqual([
      { address: '127.0.0.1', port: 0, defaultEndpoint: 'default' },
      { address: '::1', port: 8081, defaultEndpoint: 'default' },
    ]);
    expect(r.config.endpoints.map((e) => e.name)).toEqual(['default', 'openai', 'anthropic']);
    expect(r.config.log).toMatchObject({ dir: '/home/me/logs', keyFile: '/keys/k.key', durability: 'strict', chainDir: '/home/me/logs/example.com/me/dev' });
    expect(r.config.origin).toBe('example.com/me/dev');
    expect(r.config.admin).toEqual({ address: '127.0.0.1', port: 0 });
    expect(r.config.telemetry.otlpEndpoint).toBe('http://127.0.0.1:4318');
  });

  it('reports every problem of flags, env and schema in one error', () => {
    const problems = problemsOf(() =>
      resolveConfig(
        base({
          flags: { listen: ['nope'], endpoint: ['noequals', 'Bad_Name=http://x'], admin: 'x', durability: 'sometimes', upstream: 'ftp://x' },
          env: { LLMAUDIT_LOG_LEVEL: 'loud' },
        }),
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        '--listen "nope": expected HOST:PORT',
        '--endpoint "noequals": expected NAME=URL',
        '--admin "x": expected HOST:PORT',
        expect.stringMatching(/^LLMAUDIT_LOG_LEVEL "loud"/),
        expect.stringMatching(/^\/log\/durability: must be one of/),
        expect.stringMatching(/^\/endpoints\/0\/upstream: /),
        expect.stringMatching(/^\/endpoints\/1\/name: /),
      ]),
    );
  });

  it('without any upstream says which flag to pass', () => {
    expect(problemsOf(() => resolveConfig(base()))).toEqual(['/endpoints: no upstream configured; pass --upstream URL, --endpoint NAME=URL or --config FILE']);
  });

  it('a flag endpoint replaces the file endpoint of the same name; --listen replaces the file listeners', () => {
    const file = { path: '/c.yaml', text: 'listeners: [{port: 1}]\nendpoints:\n  - {name: default, upstream: "http://a"}\n  - {name: b, upstream: "http://b"}\n' };
    const r = resolveConfig(base({ file, flags: { upstream: 'http://c', listen: ['127.0.0.1:2'] } }));
    expect(r.config.endpoints.map((e) => [e.name, e.upstream])).toEqual([
      ['b', 'http://b'],
      ['default', 'http://c'],
    ]);
    expect(r.config.listeners).toEqual([{ address: '127.0.0.1', port: 2, defaultEndpoint: 'default' }]);
  });

  it('precedence: file < env < flags', () => {
    const file = { path: '/c.yaml', text: 'endpoints: [{name: a, upstream: "http://a"}]\nlog: {dir: /from-file, durability: batched}\norigin: file/origin\n' };
    const env = { LLMAUDIT_LOG_DIR: '/from-env', LLMAUDIT_DURABILITY: 'strict', LLMAUDIT_ORIGIN: 'env/origin' };
    expect(resolveConfig(base({ file, env })).config).toMatchObject({ origin: 'env/origin', log: { dir: '/from-env', durability: 'strict' } });
    const r = resolveConfig(base({ file, env, flags: { logDir: '/from-flag', origin: 'flag/origin', durability: 'batched' } }));
    expect(r.config).toMatchObject({ origin: 'flag/origin', log: { dir: '/from-flag', durability: 'batched' } });
  });
});

describe('resolveConfig: in a pod', () => {
  it('derives origin and chain directory from the downward API', () => {
    const r = resolveConfig(base({ env: K8S_ENV, file: { path: '/etc/llmaudit/config/config.yaml', text: K8S_YAML } }));
    expect(r.mode).toBe('kubernetes');
    expect(r.generateKey).toBe(false);
    expect(r.config.origin).toBe('llmaudit.dev/shop/chat-7d9f/0b1c-22');
    expect(r.config.log.chainDir).toBe('/var/lib/llmaudit/shop/chat-7d9f_0b1c-22');
    expect(r.config.policy).toBe('default-policy');
    expect(r.configText).toBe(K8S_YAML);
  });

  it('needs all three downward-API variables and never invents listeners', () => {
    const problems = problemsOf(() => resolveConfig(base({ env: { POD_NAME: 'p' }, file: { path: '/c.yaml', text: 'endpoints: [{name: a, upstream: "http://a"}]' } })));
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^POD_NAMESPACE: /), expect.stringMatching(/^POD_UID: /), expect.stringMatching(/^\/listeners?: |^\/: must have required property 'listeners'/)]),
    );
  });

  it('keeps the schema default log dir and never generates a key', () => {
    const r = resolveConfig(base({ env: K8S_ENV, file: { path: '/c.yaml', text: 'listeners: [{port: 8080}]\nendpoints: [{name: a, upstream: "http://a"}]' } }));
    expect(r.config.log.dir).toBe('/var/lib/llmaudit');
    expect(r.config.log.keyFile).toBe('/etc/llmaudit/signing/signing.key');
    expect(r.generateKey).toBe(false);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-load-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads YAML and JSON files, by flag or LLMAUDIT_CONFIG', async () => {
    await writeFile(path.join(dir, 'c.yaml'), K8S_YAML);
    await writeFile(path.join(dir, 'c.json'), JSON.stringify({ listeners: [{ port: 1 }], endpoints: [{ name: 'a', upstream: 'http://a' }] }));
    const y = await loadConfig({ flags: { config: 'c.yaml' }, env: {}, hostname: 'h', cwd: dir });
    expect(y.config.endpoints[0]?.name).toBe('ollama');
    expect(y.configPath).toBe(path.join(dir, 'c.yaml'));
    const j = await loadConfig({ flags: {}, env: { LLMAUDIT_CONFIG: path.join(dir, 'c.json') }, hostname: 'h', cwd: '/' });
    expect(j.config.endpoints[0]?.name).toBe('a');
  });

  it('a missing or unparsable file is LLMAUDIT_E_CONFIG_READ', async () => {
    await expect(loadConfig({ flags: { config: 'missing.yaml' }, env: {}, hostname: 'h', cwd: dir })).rejects.toMatchObject({ code: 'LLMAUDIT_E_CONFIG_READ', message: expect.stringContaining('ENOENT') });
    await writeFile(path.join(dir, 'bad.yaml'), 'listeners: [unclosed\n');
    await expect(loadConfig({ flags: { config: 'bad.yaml' }, env: {}, hostname: 'h', cwd: dir })).rejects.toMatchObject({ code: 'LLMAUDIT_E_CONFIG_READ' });
    await writeFile(path.join(dir, 'list.yaml'), '- 1\n- 2\n');
    await expect(loadConfig({ flags: { config: 'list.yaml' }, env: {}, hostname: 'h', cwd: dir })).rejects.toMatchObject({ code: 'LLMAUDIT_E_CONFIG_READ', message: expect.stringContaining('mapping') });
  });

  it('names the file in a schema error', async () => {
    await writeFile(path.join(dir, 'c.yaml'), 'listeners: [{port: 1}]\nendpoints: [{name: a, upstream: "http://a"}]\ntypo: 1\n');
    await expect(loadConfig({ flags: { config: 'c.yaml' }, env: {}, hostname: 'h', cwd: dir })).rejects.toMatchObject({
      code: 'LLMAUDIT_E_CONFIG_INVALID',
      message: expect.stringContaining(`(file ${path.join(dir, 'c.yaml')}): /: unknown key "typo"`),
    });
  });
});
