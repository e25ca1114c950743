import type { WatchEvent } from './types.ts';

/**
 * One line of a metadata-only watch (`as=PartialObjectMetadata`), parsed without its
 * `metadata.managedFields`: nothing in the operator reads them (the caches keep identity and our
 * annotations, cache-shapes.ts), yet they are ~40% of each line and most of the objects
 * `JSON.parse` would build — a watch-list of every Deployment in a cluster is mostly managedFields.
 *
 * The literal `,"managedFields":[` can only be ObjectMeta's field: inside a JSON string every
 * quote is escaped, and label and annotation values are strings, not arrays. From there the array
 * is skipped to its matching `]` (brackets counted outside strings) and the rest parsed; a line
 * without it, or a cut that does not parse, is parsed whole (and throws as JSON.parse does).
 * docs/adr/0026-watch-list-for-the-first-sync.md.
 */
export function parseMetadataWatchLine(line: string): WatchEvent {
  const start = line.indexOf(MANAGED_FIELDS);
  if (start >= 0) {
    const end = closingBracket(line, start + MANAGED_FIELDS.length - 1);
    if (end > 0) {
      try {
        return JSON.parse(line.slice(0, start) + line.slice(end + 1)) as WatchEvent;
      } catch {
        // not the shape it looked like: parse it whole below
      }
    }
  }
  return JSON.parse(line) as WatchEvent;
}

const MANAGED_FIELDS = ',"managedFields":[';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The index of the `]` closing the array opened at `open`, or -1 (unbalanced, or a `}` closes it). */
function closingBracket(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) return c === 0x5d ? i : -1;
    }
  }
  return -1;
}
