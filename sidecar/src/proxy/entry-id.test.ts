import { describe, expect, it } from 'vitest';
import { uuidv7 } from './entry-id.ts';

describe('uuidv7', () => {
  it('has the RFC 9562 §5.7 layout with the millisecond timestamp in the first 48 bits', () => {
    const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const id = uuidv7(t);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(t);
  });

  it('is unique across many ids and sorts by time', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => uuidv7(1_700_000_000_000 + Math.floor(i / 10)));
    expect(new Set(ids).size).toBe(ids.length);
    const byTime = ids.filter((_, i) => i % 10 === 0);
    expect([...byTime].sort()).toEqual(byTime);
  });
});
