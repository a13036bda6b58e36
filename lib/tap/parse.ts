// A TAP 13 reader for what this project prints: a plan, result lines ("ok N desc # SKIP|TODO why"),
// comments, "Bail out!", and subtests indented by four spaces under "# Subtest: name". Enough to
// compare runs (kvm-xen compare) and to check suites in tests.

export type Directive = 'SKIP' | 'TODO' | undefined;

export interface TapResult {
  ok: boolean;
  number: number;
  description: string;
  directive: Directive;
  reason: string;
  /** The comment lines right after it (diagnostics). */
  diagnostics: string[];
  /** The subtest this line closes, if it had one. */
  subtest: TapDocument | undefined;
}

export interface TapDocument {
  plan: { start: number; end: number; skipReason: string } | undefined;
  results: TapResult[];
  bailOut: string | undefined;
  comments: string[];
}

const RESULT = /^(not )?ok\b\s*(\d+)?\s*(?:- )?(.*?)(?:\s+#\s*(SKIP|TODO)\b\s*(.*))?$/i;
const PLAN = /^(\d+)\.\.(\d+)(?:\s*#\s*SKIP\b\s*(.*))?$/i;

export function parseTap(text: string): TapDocument {
  return parseLines(text.split('\n').map((line) => line.replace(/\r$/, '')));
}

function parseLines(lines: readonly string[]): TapDocument {
  const doc: TapDocument = { plan: undefined, results: [], bailOut: undefined, comments: [] };
  let nested: string[] = [];
  let lastResult: TapResult | undefined;
  for (const line of lines) {
    if (line.startsWith('    ')) {
      nested.push(line.slice(4));
      continue;
    }
    const result = RESULT.exec(line);
    if (result) {
      const [, not, number, description = '', directive, reason = ''] = result;
      lastResult = {
        ok: !not,
        number: number ? Number(number) : doc.results.length + 1,
        description: description.trim(),
        directive: directive ? (directive.toUpperCase() as Directive) : undefined,
        reason: reason.trim(),
        diagnostics: [],
        subtest: nested.length > 0 ? parseLines(nested) : undefined,
      };
      nested = [];
      doc.results.push(lastResult);
      continue;
    }
    const plan = PLAN.exec(line);
    if (plan) {
      doc.plan = { start: Number(plan[1]), end: Number(plan[2]), skipReason: (plan[3] ?? '').trim() };
      continue;
    }
    if (line.startsWith('Bail out!')) {
      doc.bailOut = line.slice('Bail out!'.length).trim();
      continue;
    }
    if (line.startsWith('#')) {
      const comment = line.replace(/^#\s?/, '');
      if (lastResult && nested.length === 0) lastResult.diagnostics.push(comment);
      else doc.comments.push(comment);
    }
  }
  return doc;
}

/** A result's outcome in one word. */
export function outcomeOf(result: TapResult): 'pass' | 'fail' | 'skip' | 'todo' {
  if (result.directive === 'SKIP') return 'skip';
  if (result.directive === 'TODO') return result.ok ? 'pass' : 'todo';
  return result.ok ? 'pass' : 'fail';
}
