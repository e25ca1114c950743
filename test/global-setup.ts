// Tests that spawn the CLIs run the bundles in */dist: rebuild them once per test run so they
// always match the sources.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['hack/build.mjs'], { stdio: 'inherit' });
}
