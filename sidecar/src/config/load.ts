/**
 * Loads the sidecar configuration: a YAML/JSON file (the ConfigMap the operator renders, or
 * `--config`), then environment, then command-line flags, each layer overriding the one before;
 * validated once through parseSidecarConfig (docs/style-guide.md "Config is parsed once at start against a
 * schema"). Every problem from every layer is reported in one LLMAUDIT_E_CONFIG_INVALID.
 *
 * `resolveConfig` is pure (file text, env, flags, hostname in → config out) so a hot reload re-runs
 * exactly the same derivation; `loadConfig` is the thin shell that reads the file.
 * docs/configuration.md documents every key, env variable and flag.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isLlmauditError } from '../errors.ts';
import type { SidecarConfig } from './schema.ts';
import { configError, parseSidecarConfig } from './validate.ts';

/** The `llmaudit proxy` flags that map onto config keys (docs/configuration.md "Flags"). */
export interface ProxyFlags {
  config?: string | undefined;
  listen?: readonly string[] | undefined;
  upstream?: string | undefined;
  endpoint?: readonly string[] | undefined;
  logDir?: string | undefined;
  key?: string | undefined;
  origin?: string | undefined;
  admin?: string | undefined;
  durability?: string | undefined;
  otlpEndpoint?: string | undefined;
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface ResolveInput {
  flags: ProxyFlags;
  env: Env;
  /** os.hostname(): names the standalone chain. */
  hostname: string;
  /** Resolves relative paths of the standalone defaults. */
  cwd: string;
  /** The config file, already read; null without one. */
  file: { path: string; text: string } | null;
}

export interface LoadedConfig {
  /** Validated and frozen; `origin` and `log.chainDir` are always set. */
  config: SidecarConfig & { origin: string; log: { chainDir: string } };
  /** `kubernetes` when the downward-API env (POD_NAME, ...) is present. */
  mode: 'kubernetes' | 'standalone';
  /**
   * Standalone without a key: `config.log.keyFile` is a key the caller reuses or creates
   * (ensureSigningKey) so `llmaudit proxy --upstream URL` works with nothing else.
   */
  generateKey: boolean;
  /** The config file in use (flag or LLMAUDIT_CONFIG), null without one: the watcher watches it. */
  configPath: string | null;
  /** The file's text as loaded (the watcher's baseline), null without a file. */
  configText: string | null;
  /** pino level from LLMAUDIT_LOG_LEVEL, default info. */
  logLevel: string;
}

/** Where `llmaudit proxy` listens when neither a flag nor the file says (the image EXPOSEs 8080). */
export const STANDALONE_LISTEN = { address: '127.0.0.1', port: 8080 } as const;
/** Standalone log root, relative to the working directory, when neither a flag nor the file says. */
export const STANDALONE_LOG_DIR = 'llmaudit-logs';
/** Name of the `--upstream` endpoint. */
export const DEFAULT_ENDPOINT_NAME = 'default';
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1). Null when malformed. */
export function parseHostPort(text: string): { address: string; port: number } | null {
  const t = text.trim();
  let host: string;
  let portText: string;
  if (/^\d+$/.test(t)) {
    host = '';
    portText = t;
  } else if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end < 0 || t[end + 1] !== ':') return null;
    host = t.slice(1, end);
    portText = t.slice(end + 2);
  } else {
    const i = t.lastIndexOf(':');
    if (i < 0) return null;
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (host.includes(':')) return null; // IPv6 needs brackets (RFC 3986 §3.2.2)
  }
  if (!/^\d{1,5}$/.test(portText) || /[\s/]/.test(host)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { address: host === '' ? '127.0.0.1' : host, port };
}

function getObj(parent: Obj, key: string): Obj {
  const v = parent[key];
  if (isObj(v)) return v;
  const fresh: Obj = {};
  // A non-object here is left for the schema to report; we do not silently replace it.
  if (v === undefined) parent[key] = fresh;
  return isObj(parent[key]) ? (parent[key] as Obj) : fresh;
}

const sanitizeSegment = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');

/**
 * File → env → flags → derived defaults → schema. Throws one LLMAUDIT_E_CONFIG_INVALID listing
 * every problem (flags and env by name, file keys by JSON pointer).
 */
export function resolveConfig(input: ResolveInput): LoadedConfig {
  const { flags, env } = input;
  const problems: string[] = [];
  let raw: Obj = {};

  if (input.file !== null) {
    let parsed: unknown;
    try {
      parsed = parseYaml(input.file.text);
    } catch (err) {
      throw configError('LLMAUDIT_E_CONFIG_READ', `${input.file.path}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (!isObj(parsed)) throw configError('LLMAUDIT_E_CONFIG_READ', `${input.file.path}: the top level must be a mapping`);
    raw = structuredClone(parsed);
  }

  // Downward API (https://kubernetes.io/docs/concepts/workloads/pods/downward-api/); the webhook
  // sets all three together.
  const pod = { name: env.POD_NAME, namespace: env.POD_NAMESPACE, uid: env.POD_UID };
  const k8s = pod.name !== undefined || pod.namespace !== undefined || pod.uid !== undefined;
  if (k8s) for (const [k, v] of [['POD_NAME', pod.name], ['POD_NAMESPACE', pod.namespace], ['POD_UID', pod.uid]] as const) {
    if (v === undefined || v === '') problems.push(`${k}: must be set with the other downward-API variables (POD_NAME, POD_NAMESPACE, POD_UID)`);
  }

  const log = getObj(raw, 'log');
  const telemetry = getObj(raw, 'telemetry');
  const fromFile = { logDir: log.dir !== undefined, keyFile: log.keyFile !== undefined };

  // Environment overrides (docs/configuration.md "Environment").
  const setFromEnv = (name: string, apply: (v: string) => void) => {
    const v = env[name];
    if (v !== undefined && v !== '') apply(v);
  };
  setFromEnv('LLMAUDIT_LOG_DIR', (v) => (log.dir = v));
  setFromEnv('LLMAUDIT_KEY_FILE', (v) => (log.keyFile = v));
  setFromEnv('LLMAUDIT_ORIGIN', (v) => (raw.origin = v));
  setFromEnv('LLMAUDIT_DURABILITY', (v) => (log.durability = v));
  setFromEnv('LLMAUDIT_OTLP_ENDPOINT', (v) => (telemetry.otlpEndpoint = v));
  setFromEnv('LLMAUDIT_ADMIN', (v) => {
    const hp = parseHostPort(v);
    if (hp === null) problems.push(`LLMAUDIT_ADMIN ${JSON.stringify(v)}: expected HOST:PORT`);
    else raw.admin = { ...(isObj(raw.admin) ? raw.admin : {}), ...hp };
  });
  const logLevel = env.LLMAUDIT_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) problems.push(`LLMAUDIT_LOG_LEVEL ${JSON.stringify(logLevel)}: must be one of ${[...LOG_LEVELS].join(', ')}`);

  // Flags.
  if (flags.logDir !== undefined) log.dir = flags.logDir;
  if (flags.key !== undefined) log.keyFile = flags.key;
  if (flags.origin !== undefined) raw.origin = flags.origin;
  if (flags.durability !== undefined) log.durability = flags.durability;
  if (flags.otlpEndpoint !== undefined) telemetry.otlpEndpoint = flags.otlpEndpoint;
  if (flags.admin !== undefined) {
    const hp = parseHostPort(flags.admin);
    if (hp === null) problems.push(`--admin ${JSON.stringify(flags.admin)}: expected HOST:PORT`);
    else raw.admin = { ...(isObj(raw.admin) ? raw.admin : {}), ...hp };
  }

  const flagEndpoints: Obj[] = [];
  if (flags.upstream !== undefined) flagEndpoints.push({ name: DEFAULT_ENDPOINT_NAME, upstream: flags.upstream, api: 'auto' });
  for (const spec of flags.endpoint ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) problems.push(`--endpoint ${JSON.stringify(spec)}: expected NAME=URL`);
    else flagEndpoints.push({ name: spec.slice(0, eq), upstream: spec.slice(eq + 1), api: 'auto' });
  }
  if (flagEndpoints.length > 0) {
    // A flag endpoint replaces a file endpoint of the same name and is appended otherwise.
    const existing = Array.isArray(raw.endpoints) ? (raw.endpoints as unknown[]) : [];
    const names = new Set(flagEndpoints.map((e) => e.name));
    raw.endpoints = [...existing.filter((e) => !(isObj(e) && names.has(e.name as string))), ...flagEndpoints];
  }
  const defaultEndpoint = flags.upstream !== undefined ? { defaultEndpoint: DEFAULT_ENDPOINT_NAME } : {};
  if (flags.listen !== undefined && flags.listen.length > 0) {
    const listeners: Obj[] = [];
    for (const spec of flags.listen) {
      const hp = parseHostPort(spec);
      if (hp === null) problems.push(`--listen ${JSON.stringify(spec)}: expected HOST:PORT`);
      else listeners.push({ ...hp, ...defaultEndpoint });
    }
    raw.listeners = listeners;
  } else if (raw.listeners === undefined && !k8s) {
    raw.listeners = [{ ...STANDALONE_LISTEN, ...defaultEndpoint }];
  } else if (flags.upstream !== undefined && Array.isArray(raw.listeners)) {
    raw.listeners = raw.listeners.map((l: unknown) => (isObj(l) && l.defaultEndpoint === undefined ? { ...l, ...defaultEndpoint } : l));
  }
  if (raw.endpoints === undefined && !k8s) {
    problems.push('/endpoints: no upstream configured; pass --upstream URL, --endpoint NAME=URL or --config FILE');
  }

  // Derived defaults: the standalone log root, origin and chain directory, and the key.
  if (!k8s && log.dir === undefined) log.dir = path.resolve(input.cwd, STANDALONE_LOG_DIR);
  if (typeof log.dir === 'string' && !path.isAbsolute(log.dir)) log.dir = path.resolve(input.cwd, log.dir);
  const logDir = typeof log.dir === 'string' ? log.dir : '/var/lib/llmaudit';
  const explicitOrigin = typeof raw.origin === 'string' ? raw.origin : undefined;
  const host = sanitizeSegment(input.hostname === '' ? 'localhost' : input.hostname);
  if (explicitOrigin === undefined) {
    raw.origin = k8s ? `llmaudit.dev/${pod.namespace ?? ''}/${pod.name ?? ''}/${pod.uid ?? ''}` : `llmaudit.dev/local/${host}`;
  }
  if (log.chainDir === undefined) {
    if (k8s) log.chainDir = path.join(logDir, sanitizeSegment(pod.namespace ?? ''), `${sanitizeSegment(pod.name ?? '')}_${sanitizeSegment(pod.uid ?? '')}`);
    else if (explicitOrigin !== undefined) log.chainDir = path.join(logDir, ...explicitOrigin.split('/').filter((s) => s !== '').map(sanitizeSegment));
    else log.chainDir = path.join(logDir, 'local', host);
  } else if (typeof log.chainDir === 'string' && !path.isAbsolute(log.chainDir)) log.chainDir = path.resolve(input.cwd, log.chainDir);
  const generateKey = !k8s && log.keyFile === undefined && flags.key === undefined && !fromFile.keyFile;
  if (generateKey) log.keyFile = path.join(logDir, 'signing.key');
  if (typeof raw.origin === 'string' && /[\s+]/.test(raw.origin)) problems.push(`/origin: ${JSON.stringify(raw.origin)} must not contain whitespace or '+' (C2SP signed-note key names)`);

  let config: SidecarConfig | undefined;
  try {
    config = parseSidecarConfig(raw);
  } catch (err) {
    if (!isLlmauditError(err, 'LLMAUDIT_E_CONFIG_INVALID')) throw err;
    const schemaProblems = (err.details?.problems as string[] | undefined) ?? [err.message];
    // Our hint replaces the schema's "required property 'endpoints'".
    const hinted = problems.some((q) => q.startsWith('/endpoints: no upstream'));
    // A bad --listen already explains an empty listener list.
    const badListen = problems.some((q) => q.startsWith('--listen '));
    problems.push(...schemaProblems.filter((p) => !(hinted && p.includes("'endpoints'")) && !(badListen && p.startsWith('/listeners: '))));
  }
  if (problems.length > 0 || config === undefined) {
    const where = input.file === null ? '' : ` (file ${input.file.path})`;
    throw configError('LLMAUDIT_E_CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'}${where}: ${problems.join('; ')}`, { details: { problems } });
  }
  return {
    config: config as LoadedConfig['config'],
    mode: k8s ? 'kubernetes' : 'standalone',
    generateKey,
    configPath: input.file?.path ?? null,
    configText: input.file?.text ?? null,
    logLevel,
  };
}

export interface LoadOptions {
  flags: ProxyFlags;
  env: Env;
  hostname: string;
  cwd: string;
}

/** The config file in effect: `--config`, else LLMAUDIT_CONFIG, else none. */
export function configPathOf(opts: Pick<LoadOptions, 'flags' | 'env' | 'cwd'>): string | null {
  const p = opts.flags.config ?? (opts.env.LLMAUDIT_CONFIG === '' ? undefined : opts.env.LLMAUDIT_CONFIG);
  return p === undefined ? null : path.resolve(opts.cwd, p);
}

/** Reads the config file (if any) and resolves the config. */
export async function loadConfig(opts: LoadOptions): Promise<LoadedConfig> {
  const file = configPathOf(opts);
  let text: string | null = null;
  if (file !== null) {
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw configError('LLMAUDIT_E_CONFIG_READ', `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
  return resolveConfig({ ...opts, file: file === null || text === null ? null : { path: file, text } });
}
