// Entry of the `llmaudit-operator` binary (hack/build.mjs bundles it into operator/dist/llmaudit-operator.mjs).
// The only place that reads process.env and wires the real Kubernetes client (docs/style-guide.md "Errors and configuration").
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ClientNodeKubeApi } from './kube/client-node-api.ts';
import { startOperator } from './operator.ts';
import { runProgram } from './program.ts';
import type { RunConfig } from './config/run-config.ts';

async function run(config: RunConfig): Promise<number> {
  const log = pino({ level: config.logLevel, base: { component: 'llmaudit-operator', pod: config.identity } });
  const kc = new KubeConfig();
  // In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config.
  kc.loadFromDefault();
  const api = new ClientNodeKubeApi(kc);
  const operator = await startOperator({ api, config, log, witness: true });
  log.info({ namespace: config.namespace, healthPort: operator.healthPort, witnessPort: operator.witnessPort, leaderElect: config.leaderElect }, 'operator started');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal }, 'shutting down');
  await operator.close();
  return 0;
}

process.exitCode = await runProgram({
  argv: process.argv.slice(2),
  stdin: process.stdin,
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  hostname: os.hostname(),
  run,
});
