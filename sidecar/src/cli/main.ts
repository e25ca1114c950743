// Entry of the `llmaudit` binary (bundled by hack/build.mjs into sidecar/dist/llmaudit.mjs).
import { runCli } from './program.ts';
import { processIo } from './cli-context.ts';

process.exitCode = await runCli(process.argv.slice(2), processIo());
