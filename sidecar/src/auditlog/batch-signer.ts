// Signs entry hashes for the writer (ADR 0004 "Signing off the event loop"). An Ed25519 signature
// costs more CPU than canonicalizing and hashing a 4 KiB entry together, and the writer runs on
// the proxy's event loop. So large group-commit batches are signed on a worker thread (the second
// core), while small ones are signed inline when the caller waits for them (strict durability: one
// appender waiting for its fdatasync), where a thread round trip would cost more than the
// signature. Under batched durability nobody waits for the signature, so even a single entry goes
// to the worker (`workerMinBatch: 1`): posting a message costs the event loop a fraction of a
// signature. If the worker fails, signing falls back to inline for good.
import { Worker } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import { ed25519PrivateKeyFromSeed } from './keys.ts';
import type { NoteSigner } from './signed-note.ts';

export interface BatchSigner {
  sign(hashes: Buffer[]): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** By default, batches at least this large go to the worker. */
const WORKER_MIN_BATCH = 8;

// Plain JavaScript run with `eval: true`, so it works unchanged from the sources and the bundle.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { sign } = require('node:crypto');
let key = null;
parentPort.on('message', (m) => {
  if (m.key !== undefined) { key = m.key; return; }
  const n = m.hashes.length / 32;
  const out = Buffer.alloc(64 * n);
  for (let i = 0; i < n; i++) sign(null, m.hashes.subarray(i * 32, i * 32 + 32), key).copy(out, i * 64);
  parentPort.postMessage({ id: m.id, sigs: out }, [out.buffer]);
});
`;

/**
 * The Ed25519 key of a signed-note signer key text ("PRIVATE+KEY+name+hexid+base64(0x01||seed)";
 * names contain no '+'), checked against the parsed signer's public key; null if it does not fit.
 */
function keyObjectOf(signerKeyText: string, signer: NoteSigner): KeyObject | null {
  const parts = signerKeyText.trim().split('+');
  const raw = Buffer.from(parts.slice(4).join('+'), 'base64');
  if (parts.length < 5 || raw.length !== 33) return null;
  try {
    const priv = ed25519PrivateKeyFromSeed(raw.subarray(1));
    return priv.publicKey.equals(signer.publicKey) ? priv.keyObject : null;
  } catch {
    return null;
  }
}

export function createBatchSigner(signer: NoteSigner, signerKeyText: string | null, opts: { workerMinBatch?: number } = {}): BatchSigner {
  const minBatch = opts.workerMinBatch ?? WORKER_MIN_BATCH;
  const inline = (hashes: Buffer[]): Promise<Buffer[]> => Promise.resolve(hashes.map((h) => signer.sign(h)));
  const key = signerKeyText === null ? null : keyObjectOf(signerKeyText, signer);
  if (key === null) return { sign: inline, close: () => Promise.resolve() };

  let worker: Worker | null = null;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (sigs: Buffer) => void; reject: (e: unknown) => void }>();
  const broken = (err: unknown): void => {
    worker = null;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', (m: { id: number; sigs: Uint8Array }) => {
      const p = waiting.get(m.id);
      waiting.delete(m.id);
      p?.resolve(Buffer.from(m.sigs.buffer, m.sigs.byteOffset, m.sigs.byteLength));
    });
    w.on('error', broken);
    w.on('exit', () => broken(new Error('signing worker exited')));
    w.postMessage({ key });
    return w;
  };
  let failed = false;
  return {
    async sign(hashes) {
      if (hashes.length < minBatch || failed) return inline(hashes);
      try {
        worker ??= start();
        const w = worker;
        const id = nextId++;
        const sigs = await new Promise<Buffer>((resolve, reject) => {
          waiting.set(id, { resolve, reject });
          // A buffer of its own, transferred: Buffer.concat of a few hashes returns a view into
          // Node's shared 8 KiB pool, and posting a view clones its whole ArrayBuffer.
          const all = new Uint8Array(32 * hashes.length);
          for (let i = 0; i < hashes.length; i++) all.set(hashes[i] as Buffer, i * 32);
          w.postMessage({ id, hashes: all }, [all.buffer]);
        });
        return hashes.map((_, i) => sigs.subarray(i * 64, i * 64 + 64));
      } catch {
        failed = true;
        return inline(hashes);
      }
    },
    async close() {
      failed = true;
      const w = worker;
      worker = null;
      if (w !== null) await w.terminate();
    },
  };
}
