/**
 * The sidecar's entry: `llmaudit proxy` (cli/proxy.ts) calls runProxy, in the container
 * (`node /app/llmaudit.mjs proxy --config /etc/llmaudit/config/config.yaml`) and on a laptop
 * (`llmaudit proxy --upstream http://127.0.0.1:11434`) alike: one code path.
 *
 * It only loads config, builds the parts and starts them (docs/style-guide.md "One obvious entry point"),
 * then waits for SIGTERM/SIGINT: stop accepting, drain up to shutdownDrainMs, seal a checkpoint,
 * fsync, exit 0. A second signal during the drain exits at once (status 130).
 */
import { readFile } from 'node:fs/promises';
import pino, { type DestinationStream, type Logger } from 'pino';
import { configError } from './config/validate.ts';
import { loadConfig, resolveConfig, type Env, type LoadedConfig, type ProxyFlags } from './config/load.ts';
import { ensureSigningKey } from './config/standalone-key.ts';
import { startSidecar, type Sidecar } from './sidecar.ts';
import { gatheredLines, type LineDestination } from './log-lines.ts';
import type { TracerResource } from './telemetry/otel-tracer.ts';

export interface RunProxyOptions {
  flags: ProxyFlags;
  env: Env;
  cwd: string;
  hostname: string;
  /** Human-readable notes (the generated key's location, where to point clients). */
  stderr: (text: string) => void;
  /** pino's destination; default stdout. */
  logDestination?: DestinationStream;
  /** Resolves to start the shutdown; default: the first SIGTERM or SIGINT. */
  shutdownSignal?: Promise<string>;
  /** Called once the sidecar runs (tests). */
  onStarted?: (sidecar: Sidecar) => void;
}

/** service.name: LLMAUDIT_SERVICE_NAME, else the workload behind the pod name, else llmaudit-proxy. */
export function resourceFromEnv(env: Env): TracerResource {
  const pod = env.POD_NAME;
  // Deployment pods are <deployment>-<replicaset hash>-<5 chars>; StatefulSet pods <name>-<ordinal>
  // (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#pod-template-hash-label).
  const workload = pod === undefined ? undefined : (/^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(pod)?.[1] ?? /^(.+)-\d+$/.exec(pod)?.[1] ?? pod);
  return {
    serviceName: env.LLMAUDIT_SERVICE_NAME ?? workload ?? 'llmaudit-proxy',
    ...(env.POD_NAMESPACE === undefined ? {} : { namespace: env.POD_NAMESPACE }),
    ...(pod === undefined ? {} : { podName: pod }),
    ...(env.POD_UID === undefined ? {} : { podUid: env.POD_UID }),
    ...(env.LLMAUDIT_APP_CONTAINER === undefined ? {} : { containerName: env.LLMAUDIT_APP_CONTAINER }),
  };
}

function signalPromise(): { promise: Promise<string>; dispose: () => void } {
  let onSignal: (sig: string) => void = () => undefined;
  const promise = new Promise<string>((resolve) => (onSignal = resolve));
  const handler = (sig: NodeJS.Signals) => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
    // A second signal while draining: the operator (or Ctrl-C twice) wants out now.
    const force = () => process.exit(130);
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    onSignal(sig);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    promise,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}

async function readSignerKey(loaded: LoadedConfig, logger: Logger, stderr: (t: string) => void): Promise<string> {
  const { config } = loaded;
  if (loaded.generateKey) {
    const k = await ensureSigningKey(config.log.keyFile, config.origin);
    if (k.created) {
      logger.info({ keyFile: k.keyFile, verifierKeyFile: k.verifierKeyFile }, 'generated a new signing key (standalone; pass --key to use your own)');
      stderr(`llmaudit: generated a signing key at ${k.keyFile}\nllmaudit: verifier key (for \`llmaudit verify --key\`): ${k.verifierKeyFile}\n`);
    }
    return k.signerKey;
  }
  try {
    return (await readFile(config.log.keyFile, 'utf8')).trim();
  } catch (err) {
    throw configError('LLMAUDIT_E_CONFIG_KEY', `${config.log.keyFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** Runs the sidecar until the shutdown signal; resolves with the process exit status. */
export async function runProxy(opts: RunProxyOptions): Promise<number> {
  const loaded = await loadConfig(opts);
  // One line per exchange: lines gather up to 32 KiB (about a hundred exchange lines) and go out
  // in one write, at the latest a quarter of a second later (the timer), so a busy proxy does not
  // pay a write per exchange. Each write is a job on libuv's thread pool (a pool thread woken,
  // then the event loop woken by its answer): the fewer, the less CPU per exchange
  // (docs/adr/0018-sidecar-cost-per-exchange.md, decisions 12 and 16; log-lines.ts).
  const lines = opts.logDestination === undefined ? gatheredLines(1) : null;
  const dest = opts.logDestination ?? (lines as LineDestination);
  const flushTimer = lines === null ? null : setInterval(() => lines.flush(), 250);
  flushTimer?.unref();
  const logger = pino({ level: loaded.logLevel, base: { origin: loaded.config.origin }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  const signerKey = await readSignerKey(loaded, logger, opts.stderr);
  const signals = opts.shutdownSignal === undefined ? signalPromise() : null;
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar(loaded.config, {
      logger,
      signerKey,
      resource: resourceFromEnv(opts.env),
      watch:
        loaded.configPath === null || loaded.configText === null
          ? null
          : {
              file: loaded.configPath,
              initialText: loaded.configText,
              // A reload re-runs the same derivation: same env and flags over the new file text.
              parse: (text) => resolveConfig({ ...opts, file: { path: loaded.configPath as string, text } }).config,
            },
    });
  } catch (err) {
    signals?.dispose();
    if (flushTimer !== null) clearInterval(flushTimer);
    logger.flush();
    throw err;
  }
  const { config } = loaded;
  if (loaded.mode === 'standalone') {
    const first = sidecar.listeners[0];
    const url = first === undefined ? '' : `http://${first.address.includes(':') ? `[${first.address}]` : first.address}:${first.port}`;
    opts.stderr(`llmaudit: proxy on ${url} (endpoints: ${config.endpoints.map((e) => `/${e.name} → ${e.upstream}`).join(', ')}); admin on http://${sidecar.admin.address}:${sidecar.admin.port}; log in ${config.log.chainDir}\n`);
  }
  logger.info(
    {
      mode: loaded.mode,
      listeners: sidecar.listeners,
      admin: sidecar.admin,
      endpoints: config.endpoints.map((e) => ({ name: e.name, upstream: e.upstream, api: e.api })),
      chainDir: config.log.chainDir,
      durability: config.log.durability,
      size: sidecar.log.size,
    },
    'proxy started',
  );
  logger.flush(); // whoever waits for the start line (a supervisor, a test) has it now
  opts.onStarted?.(sidecar);
  const sig = await (opts.shutdownSignal ?? (signals as NonNullable<typeof signals>).promise);
  logger.info({ signal: sig }, 'shutdown requested');
  const clean = await sidecar.close();
  signals?.dispose();
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  if (flushTimer !== null) clearInterval(flushTimer);
  const code = clean ? 0 : 1;
  // Everything is closed; should a stray handle keep the loop alive, the pod must still stop
  // before kubelet's SIGKILL (terminationGracePeriodSeconds). unref: never delays a clean exit.
  if (signals !== null) setTimeout(() => process.exit(code), 3000).unref();
  return code;
}
