/**
 * When to renew the webhook's certificates: a pure decision over the stored bundle and the time.
 * Certificates are renewed at a fraction (default 2/3) of their lifetime, well before expiry, so
 * a missed tick or a slow leader election never lets the serving cert lapse (the API server
 * would then skip the webhook: failurePolicy Ignore admits pods without the sidecar).
 */
import { X509Certificate } from 'node:crypto';

/** notBefore is backdated by this much, so a clock a little behind the operator's still accepts the cert. */
export const BACKDATE_MS = 5 * 60_000;

/** The Secret's content (keys as in a kubernetes.io/tls Secret, plus the CA's key). */
export interface CertBundle {
  /** ca.crt */
  caCert: string;
  /** ca.key */
  caKey: string;
  /** tls.crt */
  cert: string;
  /** tls.key */
  key: string;
  /** ca-previous.crt: the CA being retired, still trusted in caBundle until the new one is everywhere. */
  previousCaCert?: string;
}

export interface RotationPolicy {
  /** Renew when this fraction of a certificate's lifetime has passed (0 < f < 1). */
  renewFraction: number;
  /** DNS names the serving cert must carry. */
  dnsNames: string[];
  /** After a CA rotation, how long the old serving cert stays while the API server picks up the new caBundle. */
  caPhaseGapMs: number;
}

export type RotationPlan =
  | { action: 'none'; nextCheck: Date }
  | { action: 'serving'; reason: string }
  /** New CA, serving cert kept: caBundle trusts both CAs before any replica serves a new-CA cert. */
  | { action: 'ca'; reason: string }
  | { action: 'all'; reason: string };

/** The time at which a certificate is due for renewal. */
export function renewalTime(certPem: string, fraction: number): Date {
  const c = new X509Certificate(certPem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return new Date(from + (to - from) * fraction);
}

function verifiesWith(leaf: X509Certificate, caPem: string): boolean {
  try {
    return leaf.verify(new X509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

function sans(c: X509Certificate): string[] {
  return (c.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)).sort();
}

export function planRotation(bundle: CertBundle | null, now: Date, policy: RotationPolicy): RotationPlan {
  if (bundle === null) return { action: 'all', reason: 'no certificates yet' };
  let ca: X509Certificate;
  let leaf: X509Certificate;
  try {
    ca = new X509Certificate(bundle.caCert);
  } catch {
    return { action: 'all', reason: 'stored CA certificate is unreadable' };
  }
  const caDue = renewalTime(bundle.caCert, policy.renewFraction);
  try {
    leaf = new X509Certificate(bundle.cert);
  } catch {
    return { action: now >= caDue ? 'all' : 'serving', reason: 'stored serving certificate is unreadable' };
  }
  const signedByCa = leaf.verify(ca.publicKey);
  if (now >= caDue) {
    // Two phases (the second on a later tick): first trust the new CA next to the old one, then
    // re-issue the serving cert from it, so no replica ever serves a cert the API server cannot verify.
    const leafUsable = signedByCa && now < new Date(leaf.validTo) && now < new Date(ca.validTo);
    return leafUsable ? { action: 'ca', reason: `CA due for renewal since ${caDue.toISOString()}` } : { action: 'all', reason: 'CA due for renewal and the serving certificate cannot bridge it' };
  }
  if (!signedByCa) {
    const bridging = bundle.previousCaCert !== undefined && verifiesWith(leaf, bundle.previousCaCert) && now < new Date(leaf.validTo);
    // validFrom is backdated by BACKDATE_MS at generation.
    const switchAt = new Date(Date.parse(ca.validFrom) + BACKDATE_MS + policy.caPhaseGapMs);
    if (bridging && now < switchAt) return { action: 'none', nextCheck: switchAt };
    return { action: 'serving', reason: 'serving certificate is not signed by the current CA' };
  }
  if (sans(leaf).join() !== [...policy.dnsNames].sort().join()) return { action: 'serving', reason: 'serving certificate names differ from the Service' };
  const leafDue = renewalTime(bundle.cert, policy.renewFraction);
  if (now >= leafDue) return { action: 'serving', reason: `serving certificate due for renewal since ${leafDue.toISOString()}` };
  return { action: 'none', nextCheck: leafDue < caDue ? leafDue : caDue };
}

/** caBundle for the MutatingWebhookConfiguration: the current CA, and the retiring one during a CA rotation. */
export function caBundleOf(bundle: CertBundle): string {
  return bundle.previousCaCert === undefined ? bundle.caCert : bundle.caCert + bundle.previousCaCert;
}
