/**
 * Moves large base64 media out of a stored response body into `media/<sha256>.<ext>` (see
 * capture/media.ts). A failure to write keeps the body inline: the entry is still appended.
 */
import type { ExchangeContext } from './exchange-context.ts';
import type { SidecarConfig } from '../config/schema.ts';
import { extractMedia, type MediaRef } from '../capture/media.ts';
import { describeError } from './upstream-errors.ts';

/**
 * `sourceBytes`: the size of the bytes the body was read from. A body that small cannot hold a
 * base64 string above the threshold, so it is not walked at all (the common case: chat answers).
 */
export async function moveResponseMedia(ctx: ExchangeContext, config: SidecarConfig, id: string, body: unknown, sourceBytes: number): Promise<{ body: unknown; media: MediaRef[] }> {
  if (ctx.media === null || config.capture.mediaThresholdBytes <= 0 || config.capture.mode === 'metadata' || body === null || typeof body !== 'object') return { body, media: [] };
  if (sourceBytes <= config.capture.mediaThresholdBytes) return { body, media: [] };
  const ex = extractMedia(body, config.capture.mediaThresholdBytes, '/response/body');
  if (ex.blobs.length === 0) return { body, media: [] };
  try {
    const media = await ctx.media.put(ex.blobs);
    ctx.metrics.mediaExtracted.inc(ex.blobs.length);
    return { body: ex.body, media };
  } catch (err) {
    ctx.logger.warn({ id, err: describeError(err) }, 'response media could not be written; kept inline');
    return { body, media: [] };
  }
}
