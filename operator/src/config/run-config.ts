import { operatorError } from '../errors.ts';

export const CERT_MODES = ['self', 'cert-manager', 'openshift'] as const;
export type CertMode = (typeof CERT_MODES)[number];

/** `llmaudit-operator run` settings (operator/CONTRACT.md), parsed once, frozen. */
export interface RunConfig {
  readonly namespace: string;
  readonly webhookPort: number;
  readonly healthPort: number;
  /** C2SP tlog-witness HTTP server (every replica); the Service --service-name fronts it. */
  readonly witnessPort: number;
  /** Base URL the sidecars reach the witness at; empty: http://<service-name>.<namespace>.svc:<witness-port>. */
  readonly witnessUrl: string;
  readonly webhookConfigName: string;
  readonly serviceName: string;
  readonly certMode: CertMode;
  readonly certSecret: string;
  readonly certDir: string;
  readonly sidecarImage: string | undefined;
  readonly sidecarImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never' | undefined;
  /** auto: detect OpenShift by its security.openshift.io API group. */
  readonly openshift: 'true' | 'false' | 'auto';
  readonly leaderElect: boolean;
  readonly leaseName: string;
  readonly resyncSeconds: number;
  readonly logLevel: string;
  /** Leader-election identity and Event reportingInstance: POD_NAME, else the host name. */
  readonly identity: string;
}

type Key = Exclude<keyof RunConfig, 'identity'>;

/** Flag name → config key; the env var is LLMAUDIT_OPERATOR_<FLAG IN UPPER_SNAKE>. */
export const RUN_FLAGS: Readonly<Record<Key, string>> = {
  namespace: 'namespace',
  webhookPort: 'webhook-port',
  healthPort: 'health-port',
  witnessPort: 'witness-port',
  witnessUrl: 'witness-url',
  webhookConfigName: 'webhook-config-name',
  serviceName: 'service-name',
  certMode: 'cert-mode',
  certSecret: 'cert-secret',
  certDir: 'cert-dir',
  sidecarImage: 'sidecar-image',
  sidecarImagePullPolicy: 'sidecar-image-pull-policy',
  openshift: 'openshift',
  leaderElect: 'leader-elect',
  leaseName: 'lease-name',
  resyncSeconds: 'resync-seconds',
  logLevel: 'log-level',
};

export const RUN_DEFAULTS = {
  webhookPort: '9443',
  healthPort: '8081',
  witnessPort: '8444',
  witnessUrl: '',
  webhookConfigName: 'llmaudit-sidecar-injector',
  serviceName: 'llmaudit-webhook',
  certMode: 'self',
  certSecret: 'llmaudit-webhook-tls',
  certDir: '/etc/llmaudit/webhook-tls',
  openshift: 'auto',
  leaderElect: 'true',
  leaseName: 'llmaudit-operator',
  resyncSeconds: '300',
  logLevel: 'info',
} as const;

function witnessUrl(v: string, problems: string[]): string {
  if (v !== '' && !/^https?:\/\/[^/]+$/.test(v.replace(/\/$/, ''))) problems.push(`--witness-url: ${JSON.stringify(v)} must be http(s)://host[:port]`);
  return v.replace(/\/$/, '');
}

export function envName(flag: string): string {
  return `LLMAUDIT_OPERATOR_${flag.toUpperCase().replace(/-/g, '_')}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Flags win over LLMAUDIT_OPERATOR_* env, which wins over the defaults; --namespace falls back to
 * POD_NAMESPACE (the downward API). Every problem is reported at once in one
 * LLMAUDIT_E_OPERATOR_CONFIG_INVALID.
 */
export function parseRunConfig(flags: Readonly<Record<string, string | boolean | undefined>>, env: Readonly<Record<string, string | undefined>>, hostname = 'llmaudit-operator'): RunConfig {
  const problems: string[] = [];
  const raw = (key: Key): string | undefined => {
    const flag = RUN_FLAGS[key];
    const v = flags[key] ?? env[envName(flag)];
    if (v !== undefined) return String(v);
    if (key === 'namespace') return env.POD_NAMESPACE;
    return (RUN_DEFAULTS as Record<string, string | undefined>)[key];
  };
  const str = (key: Key, re?: RegExp): string => {
    const v = raw(key) ?? '';
    if (v === '') problems.push(`--${RUN_FLAGS[key]}: required (or ${envName(RUN_FLAGS[key])}${key === 'namespace' ? ' / POD_NAMESPACE' : ''})`);
    else if (re !== undefined && !re.test(v)) problems.push(`--${RUN_FLAGS[key]}: ${JSON.stringify(v)} is not a valid Kubernetes name`);
    return v;
  };
  const int = (key: Key, min: number, max: number): number => {
    const v = raw(key) ?? '';
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) problems.push(`--${RUN_FLAGS[key]}: ${JSON.stringify(v)} must be an integer in [${min}, ${max}]`);
    return n;
  };
  const bool = (key: Key): boolean => {
    const v = (raw(key) ?? '').toLowerCase();
    if (!['true', 'false', '1', '0'].includes(v)) problems.push(`--${RUN_FLAGS[key]}: ${JSON.stringify(v)} must be true or false`);
    return v === 'true' || v === '1';
  };
  const certMode = raw('certMode') ?? '';
  if (!(CERT_MODES as readonly string[]).includes(certMode)) problems.push(`--cert-mode: ${JSON.stringify(certMode)} must be one of ${CERT_MODES.join(', ')}`);
  const logLevel = raw('logLevel') ?? '';
  if (!LEVELS.includes(logLevel)) problems.push(`--log-level: ${JSON.stringify(logLevel)} must be one of ${LEVELS.join(', ')}`);
  const sidecarImage = raw('sidecarImage');
  const pullPolicy = raw('sidecarImagePullPolicy');
  if (pullPolicy !== undefined && pullPolicy !== '' && !['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) problems.push(`--sidecar-image-pull-policy: ${JSON.stringify(pullPolicy)} must be Always, IfNotPresent or Never`);
  const openshift = (raw('openshift') ?? '').toLowerCase();
  if (!['true', 'false', 'auto'].includes(openshift)) problems.push(`--openshift: ${JSON.stringify(openshift)} must be true, false or auto`);
  const config: RunConfig = {
    namespace: str('namespace', DNS_LABEL),
    webhookPort: int('webhookPort', 0, 65535),
    healthPort: int('healthPort', 0, 65535),
    witnessPort: int('witnessPort', 0, 65535),
    witnessUrl: witnessUrl(raw('witnessUrl') ?? '', problems),
    webhookConfigName: str('webhookConfigName'),
    serviceName: str('serviceName', DNS_LABEL),
    certMode: certMode as CertMode,
    certSecret: str('certSecret'),
    certDir: str('certDir'),
    sidecarImage: sidecarImage === undefined || sidecarImage === '' ? undefined : sidecarImage,
    sidecarImagePullPolicy: pullPolicy === undefined || pullPolicy === '' ? undefined : (pullPolicy as RunConfig['sidecarImagePullPolicy']),
    openshift: openshift as RunConfig['openshift'],
    leaderElect: bool('leaderElect'),
    leaseName: str('leaseName'),
    resyncSeconds: int('resyncSeconds', 0, 86_400),
    logLevel,
    identity: env.POD_NAME !== undefined && env.POD_NAME !== '' ? env.POD_NAME : hostname,
  };
  if (problems.length > 0) throw operatorError('LLMAUDIT_E_OPERATOR_CONFIG_INVALID', problems.join('; '), { details: { problems } });
  return Object.freeze(config);
}
