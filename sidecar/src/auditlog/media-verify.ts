// Media checks of the verifier (docs/audit-log-format.md "Verification", "Media"). An entry lists
// the media files moved out of its bodies in `media[]`, each `{sha256, path, mediaType, bytes,
// pointer}` with `path` = `media/<sha256>.<ext>` relative to the chain directory. The verifier
// collects one reference per distinct file while it streams the entries, and once the chain is
// intact (so the digests it read are authenticated) hashes each file as a stream: a file whose
// SHA-256 differs was altered; a missing one is reported.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { isErasedMarker } from './entry.ts';

/** Where a media file is referenced first: the digest the entry records and the entry's seq. */
export interface MediaRefAt {
  sha256: string;
  /** `media/<sha256>.<ext>`, relative to the chain directory. */
  path: string;
  seq: number;
  /** The size the entry records (0 if it records none): for progress only. */
  bytes: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const NONE: readonly MediaRefAt[] = [];
const MEDIA_PATH = /^media\/([0-9a-f]{64})\.[A-Za-z0-9]{1,16}$/;

/**
 * The media references of one parsed entry, or a message saying why `media` is not in the format.
 * Absent `media` means none, and so does an erased marker in its place (an erased v2 entry). The path must be `media/<sha256>.<ext>` with the entry's digest, so a
 * reference can never point outside the chain's media directory.
 */
export function mediaRefsOf(entry: Record<string, unknown>, seq: number): readonly MediaRefAt[] | string {
  const media = entry.media;
  // Absent, or erased (format v2: the list is a content part; its files were deleted with it).
  if (media === undefined || isErasedMarker(media)) return NONE;
  if (!Array.isArray(media)) return 'media is not an array';
  if (media.length === 0) return NONE;
  const out: MediaRefAt[] = [];
  for (const [i, m] of media.entries()) {
    if (m === null || typeof m !== 'object') return `media[${i}] is not an object`;
    const { sha256, path: p, bytes } = m as Record<string, unknown>;
    if (typeof sha256 !== 'string' || !HEX64.test(sha256)) return `media[${i}].sha256 is not 64 lowercase hex digits`;
    if (typeof p !== 'string' || MEDIA_PATH.exec(p)?.[1] !== sha256) return `media[${i}].path is not media/<sha256>.<ext> with its sha256`;
    out.push({ sha256, path: p, seq, bytes: typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes > 0 ? bytes : 0 });
  }
  return out;
}

export type MediaCheck =
  | { kind: 'ok'; bytes: number }
  | { kind: 'missing' }
  | { kind: 'altered'; actual: string; bytes: number }
  | { kind: 'unreadable'; code: string };

/** SHA-256 of a file, read as a stream (media can be large); `onBytes` sees every chunk's size. */
export function hashFile(file: string, onBytes?: (n: number) => void): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    const s = createReadStream(file, { highWaterMark: 1 << 20 });
    s.on('data', (chunk) => {
      h.update(chunk);
      bytes += chunk.length;
      onBytes?.(chunk.length);
    });
    s.on('error', reject);
    s.on('end', () => resolve({ sha256: h.digest('hex'), bytes }));
  });
}

/** Checks one referenced file of the chain in `dir` against the digest its entry records. */
export async function checkMediaFile(dir: string, ref: MediaRefAt, onBytes?: (n: number) => void): Promise<MediaCheck> {
  try {
    const { sha256, bytes } = await hashFile(path.join(dir, ...ref.path.split('/')), onBytes);
    return sha256 === ref.sha256 ? { kind: 'ok', bytes } : { kind: 'altered', actual: sha256, bytes };
  } catch (err) {
    const code = (err as { code?: string }).code ?? String(err);
    return code === 'ENOENT' ? { kind: 'missing' } : { kind: 'unreadable', code };
  }
}
