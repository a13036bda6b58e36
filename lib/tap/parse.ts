// A reader for the KTAP v1 this project prints (Documentation/dev-tools/ktap.rst): a version line, a
// plan, result lines "ok N description # DIRECTIVE data", diagnostic lines ("# ..."), "Bail out!", and
// subtests indented under the result line that closes them, each opened by its own version line and plan.
// It also reads the older TAP 13 nesting (four spaces under "# Subtest:"): a subtest's indentation is
// whatever its block has in common. Enough to compare runs (kvm-xen compare) and to check suites in tests.

/** KTAP's directives, and TAP's TODO. XFAIL is kselftest's expected failure (ksft_test_result_xfail). */
export type Directive = 'SKIP' | 'TODO' | 'XFAIL' | 'XPASS' | 'TIMEOUT' | 'ERROR' | undefined;

export interface TapResult {
  ok: boolean;
  number: number;
  description: string;
  directive: Directive;
  /** The data after the directive (or after "#" when there is none). */
  reason: string;
  /** The diagnostic lines right before it, back to the previous result or plan (KTAP's convention). */
  diagnostics: string[];
  /** The subtest this line closes, if it had one. */
  subtest: TapDocument | undefined;
}

export interface TapDocument {
  /** "KTAP version 1", "TAP version 13"; undefined when the text had none. */
  version?: string | undefined;
  plan: { start: number; end: number; skipReason: string } | undefined;
  results: TapResult[];
  bailOut: string | undefined;
  /** Diagnostic lines that precede no result (after the last one, or in a document without results). */
  comments: string[];
}

const VERSION = /^(K?TAP version \d+)$/;
const DIRECTIVES = 'SKIP|TODO|XFAIL|XPASS|TIMEOUT|ERROR';
const RESULT = new RegExp(`^(not )?ok\\b\\s*(\\d+)?\\s*(?:- )?(.*?)(?:\\s*#\\s*(?:(${DIRECTIVES})\\b)?\\s*(.*))?$`, 'i');
const PLAN = /^(\d+)\.\.(\d+)(?:\s*#\s*SKIP\b\s*(.*))?$/i;

export function parseTap(text: string): TapDocument {
  return parseLines(text.split('\n').map((line) => line.replace(/\r$/, '')));
}

/** The lines of a nested block without the indentation they share. */
function dedent(lines: readonly string[]): string[] {
  const indents = lines.filter((line) => line.trim() !== '').map((line) => /^\s*/.exec(line)![0].length);
  const common = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((line) => line.slice(common));
}

function parseLines(lines: readonly string[]): TapDocument {
  const doc: TapDocument = { version: undefined, plan: undefined, results: [], bailOut: undefined, comments: [] };
  let nested: string[] = [];
  let diagnostics: string[] = [];
  for (const line of lines) {
    if (/^\s/.test(line)) {
      nested.push(line);
      continue;
    }
    const result = RESULT.exec(line);
    if (result) {
      const [, not, number, description = '', directive, reason = ''] = result;
      doc.results.push({
        ok: !not,
        number: number ? Number(number) : doc.results.length + 1,
        description: description.trim(),
        directive: directive ? (directive.toUpperCase() as Directive) : undefined,
        reason: reason.trim(),
        diagnostics,
        subtest: nested.some((l) => l.trim() !== '') ? parseLines(dedent(nested)) : undefined,
      });
      nested = [];
      diagnostics = [];
      continue;
    }
    const version = VERSION.exec(line);
    if (version) {
      doc.version ??= version[1];
      continue;
    }
    const plan = PLAN.exec(line);
    if (plan) {
      doc.plan = { start: Number(plan[1]), end: Number(plan[2]), skipReason: (plan[3] ?? '').trim() };
      diagnostics = [];
      continue;
    }
    if (line.startsWith('Bail out!')) {
      doc.bailOut = line.slice('Bail out!'.length).trim();
      continue;
    }
    if (line.startsWith('#')) diagnostics.push(line.replace(/^#\s?/, ''));
  }
  doc.comments.push(...diagnostics);
  return doc;
}

/**
 * A result's outcome in one word; 'todo' is an expected failure (KTAP XFAIL, as kselftest prints it,
 * or TAP's "not ok # TODO"). TIMEOUT and ERROR are failures.
 */
export function outcomeOf(result: TapResult): 'pass' | 'fail' | 'skip' | 'todo' {
  switch (result.directive) {
    case 'SKIP': return 'skip';
    case 'XFAIL': return 'todo';
    case 'TODO': return result.ok ? 'pass' : 'todo';
    case 'TIMEOUT': case 'ERROR': return 'fail';
    default: return result.ok ? 'pass' : 'fail';
  }
}
