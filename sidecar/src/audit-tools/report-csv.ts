// `llmaudit report --csv`: one row per exchange (RFC 4180: CRLF, fields quoted when needed), for
// spreadsheets. Cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading
// apostrophe (OWASP "CSV injection"): log content is untrusted.
import type { ReportModel } from './report-model.ts';

export const CSV_COLUMNS = ['chain', 'seq', 'time', 'model', 'endpoint', 'api', 'span_type', 'status', 'duration_ms', 'input_tokens', 'output_tokens', 'trace_id', 'hash', 'conversation_id', 'error', 'request', 'tool_calls', 'decision'] as const;

function cell(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function* reportCsv(m: ReportModel): Generator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  const S = m.dict;
  for (const r of m.rows) {
    const str = (i: number): string => S[i] ?? '';
    yield `${[m.chains[r[0]]?.path ?? '', r[1], new Date(r[2]).toISOString(), str(r[3]), str(r[4]), str(r[5]), str(r[6]), r[7], r[8], r[9], r[10], str(r[11]), str(r[12]), str(r[13]), str(r[14]), str(r[15]), str(r[16]), str(r[17])].map(cell).join(',')}\r\n`;
  }
}
