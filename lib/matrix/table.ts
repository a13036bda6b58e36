// The matrix table: a row per test and stage, a column per configuration, each cell how often the
// row had each outcome in that column's run(s). Rows where some column differs from the first come
// first (those where a column fails what the first passes before the rest), then the rows alike.
import { outcomeEntries, type Outcome } from '../tap/compare';
import type { TapDocument } from '../tap/parse';

/** How many runs had each outcome. */
export type Tally = ReadonlyMap<Outcome, number>;

export interface MatrixRow {
  key: string;
  /** One per column; a row a column never printed counts there as 'missing' once per run. */
  cells: Tally[];
}

const OUTCOME_ORDER: readonly Outcome[] = ['pass', 'todo', 'skip', 'fail', 'missing'];

/** A run's outcomes per key, counted over its --repeat runs. */
export function tallyRun(doc: TapDocument): Map<string, Map<Outcome, number>> {
  const tallies = new Map<string, Map<Outcome, number>>();
  for (const [key, outcome] of outcomeEntries(doc)) {
    const tally = tallies.get(key) ?? new Map<Outcome, number>();
    tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
    tallies.set(key, tally);
  }
  return tallies;
}

function sameTally(a: Tally, b: Tally): boolean {
  return a.size === b.size && [...a].every(([outcome, count]) => b.get(outcome) === count);
}

/** Every run of the row passed. */
const allPass = (tally: Tally): boolean => tally.size === 1 && tally.has('pass');

/** The columns (by index) that fail, in at least one run, what the first column passed in all. */
export function regressedColumns(row: MatrixRow): number[] {
  const [first, ...others] = row.cells;
  if (!first || !allPass(first)) return [];
  return others.flatMap((cell, index) => (allPass(cell) ? [] : [index + 1]));
}

export function rowDiffers(row: MatrixRow): boolean {
  return row.cells.some((cell) => !sameTally(cell, row.cells[0]!));
}

/** The rows of the runs, one column per run: regressions first, then other differences, then the rest. */
export function buildMatrix(runs: readonly TapDocument[]): MatrixRow[] {
  const tallies = runs.map(tallyRun);
  const repeats = runs.map((_, column) => Math.max(1, ...[...tallies[column]!.values()].map((tally) => [...tally.values()].reduce((a, b) => a + b, 0))));
  const keys = [...new Set(tallies.flatMap((tally) => [...tally.keys()]))];
  const rows = keys.map((key) => ({
    key,
    cells: tallies.map((tally, column) => tally.get(key) ?? new Map<Outcome, number>([['missing', repeats[column]!]])),
  }));
  const rank = (row: MatrixRow): number => (regressedColumns(row).length > 0 ? 0 : rowDiffers(row) ? 1 : 2);
  return rows.map((row, index) => ({ row, index })).sort((a, b) => rank(a.row) - rank(b.row) || a.index - b.index).map(({ row }) => row);
}

/** "pass" for one run; "3 pass" or "2 pass 1 fail" when counted over several. */
export function formatTally(tally: Tally): string {
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  const present = OUTCOME_ORDER.filter((outcome) => tally.has(outcome));
  if (total === 1) return present[0]!;
  return present.map((outcome) => `${tally.get(outcome)} ${outcome}`).join(' ');
}

/**
 * The table as text: a header naming the columns A, B, C..., section lines, a mark on each row a
 * column regresses, and the legend (`labels`, one per column) under it.
 */
export function formatMatrix(rows: readonly MatrixRow[], names: readonly string[], labels: readonly string[]): string {
  const width = Math.max(12, ...rows.map((row) => row.key.length));
  const widths = names.map((name, column) => Math.max(8, name.length, ...rows.map((row) => formatTally(row.cells[column]!).length)));
  const line = (key: string, cells: readonly string[]): string => `${key.padEnd(width)}  ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd();
  const lines = [line('test / stage', names)];
  let section = '';
  for (const row of rows) {
    const differs = rowDiffers(row);
    const here = differs ? 'differences' : 'same';
    if (here !== section) lines.push(`-- ${(section = here)} --`);
    const regressed = regressedColumns(row).map((column) => names[column]);
    const mark = regressed.length > 0 ? `  << fails in ${regressed.join(', ')}` : '';
    lines.push(`${line(row.key, row.cells.map(formatTally))}${mark}`);
  }
  lines.push('', ...labels.map((label, column) => `${names[column]}: ${label}`));
  return `${lines.join('\n')}\n`;
}
