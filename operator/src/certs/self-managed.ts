/**
 * Self-managed webhook TLS (--cert-mode self): the leader keeps a CA and a short-lived serving
 * certificate in a Secret (through the injected CertStore), renews them well before expiry and
 * patches the MutatingWebhookConfiguration's caBundle; every replica loads the Secret and hands
 * the bundle to the HTTPS server, which swaps it in without a restart.
 */
import { X509Certificate } from 'node:crypto';
import { caBundleOf, planRotation, type CertBundle, type RotationPlan } from './rotation.ts';
import { generateCa, generateServingCert, serviceDnsNames } from './generate.ts';
import { operatorError } from '../errors.ts';

/** Where the bundle lives (the Secret --cert-secret). */
export interface CertStore {
  load(): Promise<CertBundle | null>;
  /** Throws on a write conflict (another leader wrote first): the next tick reloads. */
  save(bundle: CertBundle): Promise<void>;
}

const DAY = 86_400_000;

export interface SelfManagedCertsOptions {
  store: CertStore;
  /** Writes the caBundle into the MutatingWebhookConfiguration (leader only). */
  patchCaBundle: (pem: string) => Promise<void>;
  /** Called with every bundle that differs from the last one handed out (initial one included). */
  onBundle: (bundle: CertBundle) => void;
  isLeader: () => boolean;
  serviceName: string;
  namespace: string;
  now?: () => Date;
  caValidityMs?: number;
  servingValidityMs?: number;
  /** Fraction of a certificate's lifetime after which it is renewed. */
  renewFraction?: number;
  caPhaseGapMs?: number;
  /** How often start() runs tick(). */
  intervalMs?: number;
  /** Called when a tick fails (the next tick retries). */
  onError?: (err: unknown) => void;
}

export interface SelfManagedCerts {
  /** Loads the bundle; as leader, renews what is due, saves it and patches the caBundle. */
  tick(): Promise<{ bundle: CertBundle | null; plan: RotationPlan | null }>;
  current(): CertBundle | null;
  start(): void;
  close(): void;
}

export const CERT_DEFAULTS = {
  caValidityMs: 3650 * DAY,
  servingValidityMs: 30 * DAY,
  renewFraction: 2 / 3,
  caPhaseGapMs: 2 * 60_000,
  intervalMs: 60_000,
} as const;

export function createSelfManagedCerts(opts: SelfManagedCertsOptions): SelfManagedCerts {
  const now = opts.now ?? (() => new Date());
  const dnsNames = serviceDnsNames(opts.serviceName, opts.namespace);
  const cfg = {
    caValidityMs: opts.caValidityMs ?? CERT_DEFAULTS.caValidityMs,
    servingValidityMs: opts.servingValidityMs ?? CERT_DEFAULTS.servingValidityMs,
    renewFraction: opts.renewFraction ?? CERT_DEFAULTS.renewFraction,
    caPhaseGapMs: opts.caPhaseGapMs ?? CERT_DEFAULTS.caPhaseGapMs,
  };
  let current: CertBundle | null = null;
  let lastPatched: string | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<{ bundle: CertBundle | null; plan: RotationPlan | null }> | null = null;

  const publish = (b: CertBundle): void => {
    const changed = current === null || current.cert !== b.cert || current.key !== b.key || current.caCert !== b.caCert;
    current = b;
    if (changed) opts.onBundle(b);
  };

  async function renew(stored: CertBundle | null, plan: RotationPlan, at: Date): Promise<CertBundle> {
    const commonName = `llmaudit-webhook-ca.${opts.namespace}`;
    if (plan.action === 'all') {
      const ca = await generateCa({ commonName, now: at, validityMs: cfg.caValidityMs });
      const leaf = await generateServingCert({ ca, dnsNames, now: at, validityMs: cfg.servingValidityMs });
      const previous = stored !== null && stillValid(stored.caCert, at) ? { previousCaCert: stored.caCert } : {};
      return { caCert: ca.certPem, caKey: ca.keyPem, cert: leaf.certPem, key: leaf.keyPem, ...previous };
    }
    if (stored === null) throw new Error('unreachable: renewal without a stored bundle');
    if (plan.action === 'ca') {
      const ca = await generateCa({ commonName, now: at, validityMs: cfg.caValidityMs });
      return { caCert: ca.certPem, caKey: ca.keyPem, cert: stored.cert, key: stored.key, previousCaCert: stored.caCert };
    }
    const leaf = await generateServingCert({ ca: { certPem: stored.caCert, keyPem: stored.caKey }, dnsNames, now: at, validityMs: cfg.servingValidityMs });
    // The retiring CA stays trusted through the renewal that replaces its last serving cert
    // (other replicas may still serve that one until their next load), and goes at the one after.
    const prev = stored.previousCaCert;
    const keepPrevious = prev !== undefined && stillValid(prev, at) && signedBy(stored.cert, prev) ? { previousCaCert: prev } : {};
    return { ...dropPrevious(stored), cert: leaf.certPem, key: leaf.keyPem, ...keepPrevious };
  }

  async function tickOnce(): Promise<{ bundle: CertBundle | null; plan: RotationPlan | null }> {
    const stored = await opts.store.load();
    if (!opts.isLeader()) {
      if (stored !== null) publish(stored);
      return { bundle: stored, plan: null };
    }
    const at = now();
    const plan = planRotation(stored, at, { renewFraction: cfg.renewFraction, dnsNames, caPhaseGapMs: cfg.caPhaseGapMs });
    let bundle = stored;
    if (plan.action !== 'none') {
      try {
        bundle = await renew(stored, plan, at);
      } catch (err) {
        throw operatorError('LLMAUDIT_E_WEBHOOK_TLS', `cannot renew (${plan.reason})`, { cause: err });
      }
      await opts.store.save(bundle);
    }
    if (bundle === null) return { bundle, plan };
    // caBundle first, then our own server: the API server trusts the CA before we serve its certs.
    const caBundle = caBundleOf(bundle);
    if (caBundle !== lastPatched) {
      await opts.patchCaBundle(caBundle);
      lastPatched = caBundle;
    }
    publish(bundle);
    return { bundle, plan };
  }

  // One tick at a time: a slow API call never overlaps the next interval.
  const tick = (): ReturnType<typeof tickOnce> => {
    running ??= tickOnce().finally(() => {
      running = null;
    });
    return running;
  };

  return {
    tick,
    current: () => current,
    start() {
      if (timer !== undefined) return;
      const run = () => {
        tick().catch((err: unknown) => opts.onError?.(err));
      };
      run();
      timer = setInterval(run, opts.intervalMs ?? CERT_DEFAULTS.intervalMs);
      timer.unref();
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}

function stillValid(certPem: string, at: Date): boolean {
  try {
    return at < new Date(new X509Certificate(certPem).validTo);
  } catch {
    return false;
  }
}

function signedBy(leafPem: string, caPem: string): boolean {
  try {
    return new X509Certificate(leafPem).verify(new X509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

function dropPrevious(b: CertBundle): Omit<CertBundle, 'previousCaCert'> {
  const { previousCaCert: _drop, ...rest } = b;
  return rest;
}
