import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractMedia, placeholder } from './media.ts';
import { createMediaStore } from './media-store.ts';

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 7)]);
const b64 = PNG.toString('base64');
const sha = createHash('sha256').update(PNG).digest('hex');

describe('extractMedia', () => {
  it('moves an OpenAI data: URL image above the threshold and leaves the input untouched', () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } }] }] };
    const copy = structuredClone(body);
    const { body: out, blobs } = extractMedia(body, 1000);
    expect(body).toEqual(copy);
    expect(blobs).toHaveLength(1);
    expect(blobs[0]).toMatchObject({ sha256: sha, ext: 'png', mediaType: 'image/png', pointer: '/messages/0/content/1/image_url/url' });
    expect(blobs[0]?.data.equals(PNG)).toBe(true);
    expect((out as typeof body).messages[0]?.content[1]).toEqual({ type: 'image_url', image_url: { url: placeholder(sha) } });
    expect((out as typeof body).messages[0]?.content[0]).toBe(body.messages[0]?.content[0]); // unchanged parts shared
  });

  it('moves Anthropic base64 sources, OpenAI input_audio and Ollama images', () => {
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), Buffer.alloc(3000, 1)]);
    const body = {
      messages: [
        { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64 } }] },
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: wav.toString('base64'), format: 'wav' } }] },
        { role: 'user', content: 'see', images: [b64] },
      ],
    };
    const { blobs } = extractMedia(body, 1000);
    expect(blobs.map((b) => [b.pointer, b.mediaType, b.ext])).toEqual([
      ['/messages/0/content/0/source/data', 'image/jpeg', 'jpg'],
      ['/messages/1/content/0/input_audio/data', 'audio/wav', 'wav'],
      ['/messages/2/images/0', 'image/png', 'png'],
    ]);
  });

  it('leaves media at or below the threshold, plain text, and disabled thresholds alone', () => {
    const body = { messages: [{ role: 'user', content: 'A'.repeat(5000) }], images: [PNG.subarray(0, 100).toString('base64')] };
    expect(extractMedia(body, 1000).blobs).toHaveLength(0);
    expect(extractMedia({ images: [b64] }, 0).blobs).toHaveLength(0);
  });
});

describe('createMediaStore', () => {
  it('writes media/<sha256>.<ext> once, content-addressed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmaudit-media-'));
    try {
      const store = createMediaStore(dir);
      const { blobs } = extractMedia({ images: [b64, b64] }, 1000);
      const refs = await store.put(blobs);
      expect(refs.map((r) => r.path)).toEqual([`media/${sha}.png`, `media/${sha}.png`]);
      expect((await readFile(join(dir, 'media', `${sha}.png`))).equals(PNG)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
