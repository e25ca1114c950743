// `llmaudit proxy`: the sidecar, in the container and standalone (main.ts runProxy is the one code
// path). Flags cover the common standalone settings; `--config FILE` everything else
// (docs/configuration.md lists every key, env variable and flag).
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { CliContext } from '../cli-context.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface ProxyOptions {
  config?: string;
  listen: string[];
  upstream?: string;
  endpoint: string[];
  logDir?: string;
  key?: string;
  origin?: string;
  admin?: string;
  durability?: string;
  otlpEndpoint?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('proxy')
    .description('run the recording proxy (the sidecar), e.g. `llmaudit proxy --upstream http://127.0.0.1:11434`')
    .option('--config <file>', 'YAML/JSON config file (the ConfigMap in a pod); hot-reloaded when it changes')
    .option('--listen <host:port>', 'listen address, repeatable (default 127.0.0.1:8080)', collect, [])
    .option('--upstream <url>', 'upstream of the `default` endpoint: requests matching no /<endpoint>/ prefix go here')
    .option('--endpoint <name=url>', 'named endpoint reached as /<name>/..., repeatable', collect, [])
    .option('--log-dir <dir>', 'root of the audit logs (default ./llmaudit-logs standalone)')
    .option('--key <file>', 'Ed25519 signer key file (default: <log-dir>/signing.key, created if missing)')
    .option('--origin <name>', 'log origin (default llmaudit.dev/local/<hostname>)')
    .option('--admin <host:port>', 'admin server address: /healthz /readyz /metrics /v1/... (default 127.0.0.1:9090)')
    .option('--durability <mode>', 'strict (hold a response\'s end until its entry is on disk) or batched (default)')
    .option('--otlp-endpoint <url>', 'OTLP/HTTP base URL for spans (e.g. http://127.0.0.1:4318)')
    .action(async (o: ProxyOptions) => {
      // Loaded on use: the proxy pulls in undici, OpenTelemetry and prom-client, which every other
      // command (verify, prove, ...) would otherwise pay for at startup.
      const { runProxy } = await import('../../main.ts');
      ctx.exitCode = await runProxy({
        flags: {
          config: o.config,
          listen: o.listen,
          upstream: o.upstream,
          endpoint: o.endpoint,
          logDir: o.logDir,
          key: o.key,
          origin: o.origin,
          admin: o.admin,
          durability: o.durability,
          otlpEndpoint: o.otlpEndpoint,
        },
        env: ctx.io.env,
        cwd: ctx.io.cwd,
        hostname: hostname(),
        stderr: ctx.io.stderr,
      });
    });
}
