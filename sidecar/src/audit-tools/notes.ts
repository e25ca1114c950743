// Splits a signed note into its text and signature lines (C2SP signed-note: the text ends at the
// newline before the last blank line). Only for display and counting; opening a note checks it.
export function splitNote(note: string): { text: string; signatures: string[] } {
  const end = note.lastIndexOf('\n\n');
  if (end === -1) return { text: note, signatures: [] };
  return { text: note.slice(0, end + 1), signatures: note.slice(end + 2).split('\n').filter((l) => l.startsWith('\u2014 ')) };
}
