// Two suite runs side by side: every test and stage with its outcome on each, differences first. The
// answer to "is my patch a regression?": B fails something A passes.
import { outcomeOf, type TapDocument } from './parse';

export type Outcome = 'pass' | 'fail' | 'skip' | 'todo' | 'missing';

export interface ComparisonRow {
  key: string;
  a: Outcome;
  b: Outcome;
}

/** "stage 25 TEST_LOCKING_POLL_TIMEOUT (timer re-armed 2 times)" and its variants compare as one line. */
function lineKey(description: string): string {
  return description.replace(/\s+\((?:optional sync point|timer re-armed|known kernel gap)[^)]*\)\s*$/, '');
}

/**
 * Every test's own lines, keyed "test: line"; a test without lines (skipped, crashed) as "test". With
 * --repeat a key comes once per run, in the suite's order.
 */
export function outcomeEntries(doc: TapDocument): Array<[string, Outcome]> {
  const entries: Array<[string, Outcome]> = [];
  for (const test of doc.results) {
    const name = test.description.replace(/ \(run \d+\/\d+\)$/, '');
    const lines = test.subtest?.results ?? [];
    if (lines.length === 0 || test.subtest?.bailOut !== undefined || !test.ok) entries.push([name, outcomeOf(test)]);
    for (const line of lines) entries.push([`${name}: ${lineKey(line.description)}`, outcomeOf(line)]);
  }
  return entries;
}

/** Each key's outcome (the last run's, with --repeat). */
export function flatten(doc: TapDocument): Map<string, Outcome> {
  return new Map(outcomeEntries(doc));
}

export function compareRuns(a: TapDocument, b: TapDocument): ComparisonRow[] {
  const left = flatten(a);
  const right = flatten(b);
  const keys = [...new Set([...left.keys(), ...right.keys()])];
  const rows = keys.map((key) => ({ key, a: left.get(key) ?? 'missing', b: right.get(key) ?? 'missing' }));
  const changed = (row: ComparisonRow): boolean => row.a !== row.b;
  return [...rows.filter(changed), ...rows.filter((row) => !changed(row))];
}

/** B fails (or lacks) something A passes. */
export function isRegression(row: ComparisonRow): boolean {
  return row.a === 'pass' && row.b !== 'pass';
}

export function formatComparison(rows: readonly ComparisonRow[], labelA: string, labelB: string): string {
  const width = Math.max(8, ...rows.map((row) => row.key.length));
  const lines = [`${'test / stage'.padEnd(width)}  ${'A'.padEnd(8)}  ${'B'.padEnd(8)}`];
  let header = '';
  for (const row of rows) {
    const section = row.a === row.b ? 'same' : 'differences';
    if (section !== header) {
      header = section;
      lines.push(`-- ${section} --`);
    }
    const mark = isRegression(row) ? '  << regression' : row.b === 'pass' && row.a !== 'pass' ? '  (fixed in B)' : '';
    lines.push(`${row.key.padEnd(width)}  ${row.a.padEnd(8)}  ${row.b.padEnd(8)}${mark}`);
  }
  lines.push('', `A: ${labelA}`, `B: ${labelB}`);
  return `${lines.join('\n')}\n`;
}
