import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendCosignatures } from '../auditlog/checkpoint.ts';
import { generateCosignerKey, parseCosignatureVerifierKey, parseCosignerKey } from '../auditlog/cosignature.ts';
import { openLog } from '../auditlog/log-writer.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from '../auditlog/test-support.ts';
import { checkWitnessed } from './witness-check.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function logWithCheckpoints(): Promise<{ dir: string; notes: string[] }> {
  const { dir } = await tempDir('llmaudit-witness-check-');
  dirs.push(dir);
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: testKeys().signerKey });
  const notes: string[] = [];
  for (let i = 0; i < 6; i++) {
    await log.append(samplePayload(i));
    if (i % 2 === 1) notes.push(await log.checkpoint());
  }
  await log.close();
  return { dir, notes };
}

const text = (note: string): string => note.slice(0, note.lastIndexOf('\n\n') + 1);
const file = (dir: string, size: number): string => path.join(dir, 'checkpoints', String(size).padStart(12, '0'));

describe('checkWitnessed (llmaudit verify --witness-key)', () => {
  it('finds the newest cosigned checkpoint and its time', async () => {
    const { dir, notes } = await logWithCheckpoints();
    const w = generateCosignerKey('witness.example/w1');
    const cosigner = parseCosignerKey(w.signerKey);
    await writeFile(file(dir, 4), appendCosignatures(notes[1] as string, [cosigner.cosign(text(notes[1] as string), 1765000000)]));
    const r = await checkWitnessed(dir, [parseCosignatureVerifierKey(w.verifierKey)]);
    expect(r).toEqual({ ok: true, newest: { size: 4, cosignature: { name: 'witness.example/w1', keyId: cosigner.keyId, timestamp: 1765000000 } }, since: null });
  });

  it('fails (exit 5) when no checkpoint is cosigned by the witness, or a cosignature is forged', async () => {
    const { dir, notes } = await logWithCheckpoints();
    const w = generateCosignerKey('witness.example/w1');
    const vkey = parseCosignatureVerifierKey(w.verifierKey);
    expect(await checkWitnessed(dir, [vkey])).toMatchObject({ ok: false, exit: 5, message: /no checkpoint of the log is cosigned/ });
    // A line under the witness's name and key ID whose signature was made by another key.
    const forger = parseCosignerKey(generateCosignerKey('witness.example/w1').signerKey);
    const forged = forger.cosign(text(notes[2] as string), 1765000000);
    const real = parseCosignerKey(w.signerKey);
    const raw = Buffer.from(forged.split(' ')[2] as string, 'base64');
    raw.writeUInt32BE(real.keyId, 0);
    await writeFile(file(dir, 6), appendCosignatures(await readFile(file(dir, 6), 'utf8'), [`— witness.example/w1 ${raw.toString('base64')}`]));
    expect(await checkWitnessed(dir, [vkey])).toMatchObject({ ok: false, exit: 5, message: /invalid signature/ });
  });

  it('requires the --since checkpoint to carry the witness cosignature', async () => {
    const { dir, notes } = await logWithCheckpoints();
    const w = generateCosignerKey('witness.example/w1');
    const vkey = parseCosignatureVerifierKey(w.verifierKey);
    expect(await checkWitnessed(dir, [vkey], notes[0])).toMatchObject({ ok: false, message: /--since checkpoint carries no cosignature/ });
    const cosigned = appendCosignatures(notes[0] as string, [parseCosignerKey(w.signerKey).cosign(text(notes[0] as string), 1765000001)]);
    expect(await checkWitnessed(dir, [vkey], cosigned)).toMatchObject({ ok: true, newest: null, since: { size: 2 } });
  });
});
