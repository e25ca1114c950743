import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RunConfig } from './config/run-config.ts';
import { runProgram, type ProgramIo } from './program.ts';

function io(argv: string[], env: Record<string, string> = {}, stdin = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const runs: RunConfig[] = [];
  const p: ProgramIo = { argv, env, stdin: Readable.from([stdin]), stdout, stderr, hostname: 'host-1', run: async (c) => (runs.push(c), 0) };
  return { p, runs, out: () => out, err: () => err };
}

describe('llmaudit-operator', () => {
  it("run: takes the chart's --flag=value arguments and env, parsed once", async () => {
    const t = io(['run', '--webhook-port=9443', '--cert-mode=cert-manager', '--openshift=false', '--sidecar-image-pull-policy=IfNotPresent', '--leader-elect=true'], { POD_NAMESPACE: 'llmaudit', POD_NAME: 'op-0', LLMAUDIT_OPERATOR_RESYNC_SECONDS: '60' });
    expect(await runProgram(t.p)).toBe(0);
    expect(t.runs).toHaveLength(1);
    expect(t.runs[0]).toMatchObject({ namespace: 'llmaudit', identity: 'op-0', certMode: 'cert-manager', openshift: 'false', sidecarImagePullPolicy: 'IfNotPresent', resyncSeconds: 60 });
  });

  it('run: bad flags exit 1 with the error code and every problem', async () => {
    const t = io(['run', '--cert-mode=vault'], {});
    expect(await runProgram(t.p)).toBe(1);
    expect(t.err()).toContain('LLMAUDIT_E_OPERATOR_CONFIG_INVALID');
    expect(t.err()).toContain('--namespace');
    expect(t.err()).toContain('--cert-mode');
    expect(t.runs).toEqual([]);
  });

  it('crd prints the CRD; inject is handed its own arguments', async () => {
    const crd = io(['crd']);
    expect(await runProgram(crd.p)).toBe(0);
    expect(crd.out()).toContain('name: auditpolicies.llmaudit.dev');
    const inject = io(['inject', '-f', '-'], {}, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    expect(await runProgram(inject.p)).toBe(0);
    expect(inject.out()).toContain('kind: ConfigMap');
  });
});
