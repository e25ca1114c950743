// The Ed25519 cosignature/v1 wire pieces of C2SP tlog-cosignature ("Format", "Ed25519 signed
// message"), shared by signed-note.ts (verification) and cosignature.ts (signing).

export const COSIGNATURE_HEADER = 'cosignature/v1';
const ED25519_SIG = 64;

/** "cosignature/v1\ntime <ts>\n" + the cosigned checkpoint's note text (with its final newline). */
export function cosignatureMessage(noteText: string, timestamp: number): Buffer {
  return Buffer.from(`${COSIGNATURE_HEADER}\ntime ${timestamp}\n${noteText}`, 'utf8');
}

/**
 * Splits a timestamped_signature (u64 big-endian POSIX seconds || 64-byte Ed25519 signature).
 * Undefined for a wrong length or a timestamp above 2^63 - 1 (the spec's limit) or 2^53 - 1
 * (JS number precision; about 285 million years from now).
 */
export function parseCosignatureBytes(sig: Uint8Array): { timestamp: number; signature: Buffer } | undefined {
  if (sig.length !== 8 + ED25519_SIG) return undefined;
  const b = Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength);
  const ts = b.readBigUInt64BE(0);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { timestamp: Number(ts), signature: b.subarray(8) };
}

export function formatCosignatureBytes(timestamp: number, signature: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(8 + signature.length);
  b.writeBigUInt64BE(BigInt(timestamp), 0);
  b.set(signature, 8);
  return b;
}
