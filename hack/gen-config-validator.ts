/**
 * Writes sidecar/src/config/config-validator.generated.ts, the sidecar config's validator compiled
 * by Ajv ahead of time (sidecar/src/config/validator-codegen.ts). `--check` writes nothing and exits
 * 1 when the committed file differs (CI: `make config-validator-check`), so the schema and its
 * validator never drift apart.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configValidatorSource } from '../sidecar/src/config/validator-codegen.ts';

const target = fileURLToPath(new URL('../sidecar/src/config/config-validator.generated.ts', import.meta.url));
const generated = configValidatorSource();
if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== generated) {
    process.stderr.write(`${target} is out of date\nrun \`make config-validator\` and commit the result\n`);
    process.exit(1);
  }
  process.stdout.write(`${target} is up to date\n`);
} else {
  await writeFile(target, generated);
  process.stdout.write(`wrote ${target}\n`);
}
