// verifyLog()'s media check on logs written by the real writer, media stored by the real media
// store: a reference must stay inside the chain's media/, and a file larger than one read is
// hashed whole (a change in its last byte is found).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMediaStore } from '../capture/media-store.ts';
import { openLog } from './log-writer.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN, type TestKeys } from './test-support.ts';
import { verifyLog } from './verifier.ts';
import type { EntryPayload } from './types.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: TestKeys;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-media-verify-');
  keys = testKeys();
});
afterAll(async () => {
  await tmp.cleanup();
});

async function writeWithMedia(dir: string, media: (store: ReturnType<typeof createMediaStore>) => Promise<EntryPayload['media']>): Promise<void> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
  await log.append(samplePayload(0));
  await log.append({ ...samplePayload(1), media: await media(createMediaStore(dir)) });
  await log.append(samplePayload(2));
  await log.close();
}

describe('verifyLog media check', () => {
  it('a reference whose path leaves media/ is a parse error (4), and the file it names is not read', async () => {
    const dir = path.join(tmp.dir, 'escape');
    const sha = createHash('sha256').update('x').digest('hex');
    await writeWithMedia(dir, () => Promise.resolve([{ sha256: sha, path: `media/../../${sha}.png`, mediaType: 'image/png', bytes: 1, pointer: '/response/body' }]));
    const r = await verifyLog(dir, { keys: [keys.verifier] });
    expect(r.exit).toBe(4);
    expect(r.failure).toMatchObject({ code: 'LLMAUDIT_E_LOG_PARSE', seq: 1, line: 2 });
    expect(r.failure?.message).toContain('media[0].path is not media/<sha256>.<ext>');
  });

  it('a file of several reads: intact (0) with its bytes counted; its last byte changed is LLMAUDIT_E_MEDIA_TAMPERED (3)', async () => {
    const dir = path.join(tmp.dir, 'large');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 0x42);
    const sha256 = createHash('sha256').update(data).digest('hex');
    await writeWithMedia(dir, (store) => store.put([{ sha256, ext: 'wav', mediaType: 'audio/wav', data, pointer: '/request/body/messages/0/content/0/input_audio/data' }]));
    const phases: string[] = [];
    const ok = await verifyLog(dir, { keys: [keys.verifier], onProgress: (p) => phases.push(p.phase) });
    expect(ok).toMatchObject({ exit: 0, media: { files: 1, bytes: data.length, missing: 0 }, warnings: [] });
    expect(phases.at(-1)).toBe('media');
    const file = path.join(dir, 'media', `${sha256}.wav`);
    const changed = await readFile(file);
    changed[changed.length - 1] = 0x43;
    await writeFile(file, changed);
    const bad = await verifyLog(dir, { keys: [keys.verifier] });
    expect(bad.exit).toBe(3);
    expect(bad.failure).toMatchObject({ code: 'LLMAUDIT_E_MEDIA_TAMPERED', seq: 1 });
    expect(bad.failure?.message).toContain(`media/${sha256}.wav was altered: its SHA-256 is ${createHash('sha256').update(changed).digest('hex')}`);
  });
});
