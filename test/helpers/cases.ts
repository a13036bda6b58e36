// Several CLI runs in one runner VM, each a delimited record in its stdout: a VM boot is the expensive
// part, so the in-VM tests run their cases in turn inside one and take the records apart here.

export interface CaseRun {
  status: number;
  output: string;
}

/** A case's shell line: the CLI's output, then its status on a line of its own. */
export const cliCase = (name: string, line: string): string => `echo "=== ${name}"; ${line}; echo "=== ${name} status $?"`;

/**
 * The records of cliCase lines, by name. A record runs from the last start line of its case before its
 * status line: after a TCG flake the runner retries in a fresh VM, and stdout then holds the failed
 * attempt's output first, a case cut off in the middle among it.
 */
export function parseCases(stdout: string): Map<string, CaseRun> {
  const runs = new Map<string, CaseRun>();
  const pattern = /^=== (\S+)\n((?:(?!^=== \1\n)[\s\S])*?)^=== \1 status (\d+)$/gm;
  for (const match of stdout.matchAll(pattern)) runs.set(match[1]!, { output: match[2]!, status: Number(match[3]) });
  return runs;
}
