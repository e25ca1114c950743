// Erasure on a live log through the sidecar's admin server (docs/erasure.md "Live"): `POST
// /v1/erase` with `Authorization: Bearer <token>` (the token file comes from a Secret) and a JSON
// body `{seqs | id | conversation | match, reason, by}`. The writer keeps running: the erasure
// appends its record through it, seals the open segment and rewrites sealed segments only.
import { timingSafeEqual, createHash } from 'node:crypto';
import { isLlmauditError } from '../errors.ts';
import { eraseEntries, type EraseResult } from './erase.ts';
import { compileSelector, type EraseSelector } from './select.ts';
import { ERASURE_ERRORS, erasureError } from './errors.ts';
import type { AuditLog } from '../auditlog/log-writer.ts';

export interface LiveEraseResponse {
  status: number;
  body: EraseResult | { error: { code: string; message: string } };
}

function sameToken(given: string, expected: string): boolean {
  // Compared as digests: equal length, constant time.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function parseRequest(text: string): { selector: EraseSelector; reason: string; by: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'the body is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'the body is not a JSON object');
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['seqs', 'id', 'conversation', 'match', 'reason', 'by'].includes(k)) throw erasureError('LLMAUDIT_E_ERASE_INVALID', `unknown member ${JSON.stringify(k).slice(0, 80)}`);
  if (typeof r.reason !== 'string' || r.reason.trim() === '') throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'reason must be a non-empty string');
  if (typeof r.by !== 'string' || r.by.trim() === '') throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'by must be a non-empty string');
  const selector: EraseSelector = {};
  if (r.seqs !== undefined) {
    if (!Array.isArray(r.seqs) || !r.seqs.every((s) => Number.isSafeInteger(s))) throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'seqs must be an array of integers');
    selector.seqs = r.seqs as number[];
  }
  for (const k of ['id', 'conversation', 'match'] as const) {
    if (r[k] === undefined) continue;
    if (typeof r[k] !== 'string') throw erasureError('LLMAUDIT_E_ERASE_INVALID', `${k} must be a string`);
    selector[k] = r[k];
  }
  return { selector, reason: r.reason, by: r.by };
}

/** The handler behind POST /v1/erase: 401 without the right bearer token, 400 for a bad request, else the erasure's result. */
export function liveEraser(log: () => AuditLog | null, token: string): (body: string, authorization: string | undefined) => Promise<LiveEraseResponse> {
  return async (body, authorization) => {
    const given = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
    if (given === '' || !sameToken(given, token)) return { status: 401, body: { error: { code: 'LLMAUDIT_E_ERASE_UNAUTHORIZED', message: 'POST /v1/erase needs Authorization: Bearer <the erase token>' } } };
    try {
      const req = parseRequest(body);
      const select = compileSelector(req.selector);
      const l = log();
      if (l === null) return { status: 503, body: { error: { code: 'LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE', message: 'the audit log is not open' } } };
      return { status: 200, body: await eraseEntries(l, { select, reason: req.reason, by: req.by }) };
    } catch (err) {
      if (isLlmauditError(err) && Object.hasOwn(ERASURE_ERRORS, err.code)) return { status: 400, body: { error: { code: err.code, message: err.message } } };
      throw err;
    }
  };
}
