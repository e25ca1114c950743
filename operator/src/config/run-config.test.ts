import { describe, expect, it } from 'vitest';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { parseRunConfig } from './run-config.ts';

describe('parseRunConfig', () => {
  it('takes the contract defaults, POD_NAMESPACE and POD_NAME', () => {
    const c = parseRunConfig({}, { POD_NAMESPACE: 'llmaudit', POD_NAME: 'op-0' });
    expect(c).toEqual({
      namespace: 'llmaudit', webhookPort: 9443, healthPort: 8081, witnessPort: 8444, witnessUrl: '', webhookConfigName: 'llmaudit-sidecar-injector',
      serviceName: 'llmaudit-webhook', certMode: 'self', certSecret: 'llmaudit-webhook-tls', certDir: '/etc/llmaudit/webhook-tls',
      sidecarImage: undefined, sidecarImagePullPolicy: undefined, openshift: 'auto', leaderElect: true, leaseName: 'llmaudit-operator', resyncSeconds: 300, logLevel: 'info', identity: 'op-0',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('flags beat LLMAUDIT_OPERATOR_* env, which beats defaults', () => {
    const c = parseRunConfig({ webhookPort: '10443' }, { LLMAUDIT_OPERATOR_WEBHOOK_PORT: '1', LLMAUDIT_OPERATOR_LEADER_ELECT: 'false', LLMAUDIT_OPERATOR_NAMESPACE: 'x', LLMAUDIT_OPERATOR_SIDECAR_IMAGE: 'img:1' });
    expect(c).toMatchObject({ webhookPort: 10443, leaderElect: false, namespace: 'x', sidecarImage: 'img:1' });
    // The chart's exact argument style (--flag=value) through commander is covered in program.test.ts.
    expect(parseRunConfig({ openshift: 'true', sidecarImagePullPolicy: 'Always' }, { POD_NAMESPACE: 'n' })).toMatchObject({ openshift: 'true', sidecarImagePullPolicy: 'Always' });
  });

  it('reports every problem at once', () => {
    try {
      parseRunConfig({ healthPort: '70000', certMode: 'vault', leaderElect: 'maybe' }, {});
      expect.unreachable();
    } catch (err) {
      expect(isLlmauditError(err, 'LLMAUDIT_E_OPERATOR_CONFIG_INVALID')).toBe(true);
      const msg = (err as Error).message;
      for (const part of ['--namespace', '--health-port', '--cert-mode', '--leader-elect']) expect(msg).toContain(part);
    }
  });
});
