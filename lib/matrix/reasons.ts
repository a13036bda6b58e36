// Why a column failed, in a line per failing test: the table says which stages fail, this says what
// the failing stage reported, so a regression (or a flake) can be read without rerunning the column.
import { outcomeOf, type TapDocument, type TapResult } from '../tap/parse';

/** At most this many lines per column: the first failures point at the cause, the rest follow from it. */
const MAX_REASONS = 5;

/** A failed test's reason: its subtest's "Bail out!", else its last diagnostic line, else its name. */
function failureReason(test: TapResult): string {
  const bailOut = test.subtest?.bailOut;
  if (bailOut) return `${test.description}: ${bailOut}`;
  const said = test.diagnostics.at(-1);
  return said ?? test.description;
}

/** The distinct reasons of a run's failed tests, in order, "test: what it said"; without --repeat's run numbers, so one failure seen in several runs is one line. */
export function failureReasons(doc: TapDocument): string[] {
  const reasons = doc.results.filter((test) => outcomeOf(test) === 'fail').map(failureReason);
  const distinct = [...new Set(reasons.map((reason) => reason.replace(/ \(run \d+\/\d+\)/, '')))];
  return distinct.length > MAX_REASONS ? [...distinct.slice(0, MAX_REASONS), `... and ${distinct.length - MAX_REASONS} more`] : distinct;
}

const REASONS_HEADER = 'failures, as each column\'s tests reported them:';

/** The "why" section under the table: a block per column that failed something, empty when none did. */
export function formatReasons(docs: readonly TapDocument[], names: readonly string[]): string {
  const blocks = docs.flatMap((doc, column) => failureReasons(doc).map((reason) => `${names[column]}: ${reason}`));
  return blocks.length > 0 ? `\n${REASONS_HEADER}\n${blocks.join('\n')}\n` : '';
}

/** The columns (by name) with a line in compare's "why" section, read back from its output. */
export function columnsWithFailures(output: string): string[] {
  const lines = output.split('\n');
  const start = lines.indexOf(REASONS_HEADER);
  if (start < 0) return [];
  const names = lines.slice(start + 1).map((line) => /^([A-Z]+): /.exec(line)?.[1]).filter((name) => name !== undefined);
  return [...new Set(names)];
}
