// The C2SP tlog-witness `add-checkpoint` request body (https://c2sp.org/tlog-witness
// "add-checkpoint"), byte for byte:
//
//   old <size>\n               ASCII decimal, no leading zeros ("0" when the witness saw nothing)
//   <base64 hash>\n            zero to 63 consistency proof lines (RFC 6962 §2.1.2), old → new
//   \n                         an empty line
//   <signed checkpoint note>   C2SP tlog-checkpoint text + signature lines (C2SP signed-note)
//
// Pure: bytes in, fields out. Anything else is a malformed request (400).

/** C2SP tlog-witness: "The client MUST NOT send more than 63 consistency proof lines." */
export const MAX_PROOF_LINES = 63;
const HASH_SIZE = 32;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Buffer[];
  /** The signed checkpoint note, as sent. */
  note: string;
}

export class MalformedRequest extends Error {}

function strictBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

export function parseAddCheckpoint(body: Uint8Array): AddCheckpointRequest {
  const text = Buffer.from(body).toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(Buffer.from(body))) throw new MalformedRequest('body is not UTF-8');
  const first = text.indexOf('\n');
  if (first < 0) throw new MalformedRequest('no old size line');
  const oldLine = text.slice(0, first);
  const m = /^old (0|[1-9][0-9]*)$/.exec(oldLine);
  if (m === null) throw new MalformedRequest(`first line must be "old <size>", got ${JSON.stringify(oldLine.slice(0, 40))}`);
  const oldSize = Number(m[1]);
  if (!Number.isSafeInteger(oldSize)) throw new MalformedRequest('old size is too large');
  const proof: Buffer[] = [];
  let at = first + 1;
  for (;;) {
    const end = text.indexOf('\n', at);
    if (end < 0) throw new MalformedRequest('no empty line before the checkpoint');
    const line = text.slice(at, end);
    at = end + 1;
    if (line === '') break;
    const hash = strictBase64(line);
    if (hash?.length !== HASH_SIZE) throw new MalformedRequest(`proof line ${proof.length + 1} is not the base64 of a 32-byte hash`);
    if (proof.length === MAX_PROOF_LINES) throw new MalformedRequest(`more than ${MAX_PROOF_LINES} proof lines`);
    proof.push(hash);
  }
  const note = text.slice(at);
  if (note.length === 0) throw new MalformedRequest('no checkpoint after the empty line');
  return { oldSize, proof, note };
}

export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  return `old ${req.oldSize}\n${req.proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${req.note}`;
}

/** The 409 body: the size the witness knows, then a newline (content type `text/x.tlog.size`). */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

export function parseSizeBody(body: string): number | undefined {
  const m = /^(0|[1-9][0-9]*)\n$/.exec(body);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
