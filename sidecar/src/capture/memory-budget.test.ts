import { describe, expect, it } from 'vitest';
import { MemoryBudget, PARSE_FACTOR } from './memory-budget.ts';

const MiB = 1024 * 1024;

describe('MemoryBudget.admitRequest', () => {
  it('charges a body by its Content-Length until the budget is full, and takes it back on release', () => {
    const b = new MemoryBudget(() => 32 * MiB);
    const g1 = b.admitRequest({ 'content-length': String(4 * MiB) }, 8 * MiB);
    expect(g1).toMatchObject({ limit: 4 * MiB, refused: false });
    expect(b.used).toBe(4 * MiB * PARSE_FACTOR);
    const g2 = b.admitRequest({ 'content-length': String(8 * MiB) }, 8 * MiB);
    expect(g2).toMatchObject({ limit: 0, refused: true });
    g1.release();
    g1.release(); // once only
    expect(b.used).toBe(0);
  });

  it('a request without Content-Length or Transfer-Encoding has no body and costs nothing', () => {
    // A GET charged the whole parse limit and left nothing for decoding its gzip answer.
    const b = new MemoryBudget(() => 32 * MiB);
    expect(b.admitRequest({}, 8 * MiB)).toMatchObject({ refused: false });
    expect(b.used).toBe(0);
  });

  it('a chunked body reads ahead at most an eighth of the budget', () => {
    const b = new MemoryBudget(() => 32 * MiB);
    const g = b.admitRequest({ 'transfer-encoding': 'chunked' }, 8 * MiB);
    expect(g.limit).toBe(MiB);
    expect(b.used).toBe(4 * MiB);
  });

  it('0 turns the budget off', () => {
    const b = new MemoryBudget(() => 0);
    for (let i = 0; i < 100; i++) expect(b.admitRequest({ 'content-length': String(8 * MiB) }, 8 * MiB).refused).toBe(false);
    expect(b.takeUpTo(5)).toBe(5);
  });
});
