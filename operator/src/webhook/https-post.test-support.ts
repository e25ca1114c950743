/** Test helper: one HTTPS request on a fresh connection that trusts only `ca`, checking the name `servername`. */
import { request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export interface HttpsReply {
  status: number;
  body: string;
  peer: PeerCertificate;
}

export function httpsPost(opts: { port: number; ca: string; servername: string; path: string; body: string | Buffer; method?: string }): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: opts.port, servername: opts.servername, ca: opts.ca, path: opts.path, method: opts.method ?? 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), peer }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
