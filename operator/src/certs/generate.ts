/**
 * X.509 generation for the webhook's self-managed TLS (docs/adr/0006-webhook-certificates.md):
 * ECDSA P-256 keys from WebCrypto, certificates built by @peculiar/x509. A CA (long-lived) signs
 * a short-lived serving certificate for the webhook Service's DNS names.
 * Profile: RFC 5280 §4.2.1 (basicConstraints, keyUsage, extKeyUsage, subjectAltName, SKI/AKI).
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API.
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { BACKDATE_MS } from './rotation.ts';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function derOf(pemText: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pemText);
  if (m === null) throw new Error(`no ${label} PEM block`);
  return Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64');
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return b.toString('hex');
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', key));
}

export async function generateCa(opts: { commonName: string; now: Date; validityMs: number }): Promise<KeyAndCert> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: [{ CN: [opts.commonName] }],
      notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
      notAfter: new Date(opts.now.getTime() + opts.validityMs),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

export async function generateServingCert(opts: { ca: KeyAndCert; dnsNames: string[]; now: Date; validityMs: number }): Promise<KeyAndCert> {
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', derOf(opts.ca.keyPem, 'PRIVATE KEY'), ALG, false, ['sign']);
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: [{ CN: [opts.dnsNames[0] ?? 'llmaudit-webhook'] }],
      issuer: caCert.subject,
      notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
      notAfter: new Date(opts.now.getTime() + opts.validityMs),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        // The API server checks the name against the SAN only (Go ignores the CN since 1.15).
        new x509.SubjectAlternativeNameExtension(opts.dnsNames.map((value) => ({ type: 'dns' as const, value })), false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

/** DNS names the API server may use for the webhook Service (the clientConfig.service form uses <svc>.<ns>.svc). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}
