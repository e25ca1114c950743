// The README.md inside an audit pack: what it holds and the exact commands to check it.
import type { PackManifest } from './pack-manifest.ts';

export function packReadme(m: Omit<PackManifest, 'files'>): string {
  const logKeys = m.keys.filter((k) => k.kind === 'log');
  const witnessKeys = m.keys.filter((k) => k.kind === 'witness');
  const keyArgs = logKeys.length > 0 ? logKeys.map((k) => `--key ${k.path}`).join(' ') : '--key LOG.vkey';
  const witnessArgs = witnessKeys.map((k) => ` --witness-key ${k.path}`).join('');
  const entries = m.chains.reduce((n, c) => n + c.entries, 0);
  const lines = [
    '# llmaudit audit pack',
    '',
    `Created ${m.createdAt} by llmaudit ${m.tool.version}: ${entries} ${entries === 1 ? 'entry' : 'entries'} of ${m.chains.length} ${m.chains.length === 1 ? 'chain' : 'chains'}${m.partial ? ', a **partial** export' : ', whole chains'}.`,
    '',
  ];
  if (m.partial) {
    lines.push(
      '## A subset you can verify on its own',
      '',
      `This pack holds only the exchanges selected (${JSON.stringify(m.selection)}), not the rest of the log.`,
      'Each entry comes with its Merkle inclusion proof (RFC 9162) against a checkpoint the log signed',
      '(and, where a witness cosigned it, with the cosignature lines). Verifying a proof recomputes the',
      "entry's hash from its content and the tree's root from the proof, and checks the signature on that",
      'root: so each entry is shown to be exactly what the log recorded at its position, without seeing',
      'any other exchange of the log.',
      '',
    );
  }
  lines.push(
    '## Verify',
    '',
    'With the llmaudit CLI, without unpacking:',
    '',
    `    llmaudit verify THIS-PACK.tar.gz ${keyArgs}${witnessArgs}`,
    '',
    'Exit status: 0 intact, 1 file error, 2 chain broken or a listed file missing, 3 tampered, 4 parse',
    'error, 5 bad signature or wrong key, 6 inconsistent. Obtain the verifier key from the log owner',
    "through a channel you trust (for Kubernetes: the AuditPolicy's status.publicKey); a key shipped",
    'inside the pack only says which key the exporter used.',
    '',
    'By hand:',
    '',
    '    mkdir pack && tar -xzf THIS-PACK.tar.gz -C pack && cd pack',
    '    sha256sum -c <(jq -r \'.files[] | "\\(.sha256)  \\(.path)"\' manifest.json)',
  );
  for (const c of m.chains) {
    if (c.kind === 'full') lines.push(`    llmaudit verify chains/${c.path} ${keyArgs}`);
  }
  if (m.partial) {
    lines.push(
      '',
      'Each line of `chains/<chain>/entries.jsonl` is an entry as the log holds it; the same line of',
      '`proofs.jsonl` is its proof (`index`, `entryHash`, `treeSize`, `inclusionProof`: base64 hashes,',
      'leaf to root), against the checkpoint in `chains/<chain>/checkpoints/`. The format and the',
      'verification steps are in docs/audit-log-format.md ("Proofs") of llmaudit.',
    );
  }
  lines.push('', '## Contents', '', '| chain | origin | kind | entries | seq | from | to | checkpoint |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of m.chains) {
    const seq = c.seqRanges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
    const cp = c.checkpoint === null ? 'none' : `size ${c.checkpoint.size}${c.checkpoint.cosignatures > 0 ? `, ${c.checkpoint.cosignatures} cosignature(s)` : ''}`;
    lines.push(`| ${c.path} | ${c.origin ?? '-'} | ${c.kind} | ${c.entries} | ${seq} | ${c.firstTs ?? '-'} | ${c.lastTs ?? '-'} | ${cp} |`);
  }
  lines.push('', '`manifest.json` lists every file with its SHA-256 and size, the selection and the tool version.', '');
  return lines.join('\n');
}
