// KTAP carries no times, but the suite streams its lines as they happen (each selftest's check lines
// as the check ends, each selftest's own line as it exits). TimedLines is a sink that keeps the stream
// and the moment each line arrived; from those it tells when each result line's test ran: from the
// previous result at its level, or from the last less indented line before it (its parent's start:
// the previous selftest's result, or the suite's plan), or from the stream's start.

export interface ResultTiming {
  /** Seconds from the stream's start to the test's start. */
  startS: number;
  durationS: number;
}

const RESULT_LINE = /^(\s*)(?:not )?ok\b/;

export class TimedLines {
  private text = '';
  private pending = '';
  private lines: Array<{ line: string; at: number }> = [];
  private started: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.started = now();
  }

  write(chunk: string | Uint8Array): boolean {
    const piece = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    this.text += piece;
    const parts = (this.pending + piece).split('\n');
    this.pending = parts.pop()!;
    const at = this.now();
    for (const line of parts) this.lines.push({ line: line.replace(/\r$/, ''), at });
    return true;
  }

  /** Forget everything (the runner retried in a fresh VM; what came so far was the failed attempt). */
  reset(): void {
    this.text = '';
    this.pending = '';
    this.lines = [];
    this.started = this.now();
  }

  /** Everything written since the start or the last reset. */
  get output(): string {
    return this.text;
  }

  /** One timing per result line, in output order. */
  resultTimings(): ResultTiming[] {
    const lines = this.lines.filter(({ line }) => line.trim() !== '');
    const timings: ResultTiming[] = [];
    lines.forEach(({ line, at }, index) => {
      if (!RESULT_LINE.test(line)) return;
      const indent = indentOf(line);
      let start = this.started;
      for (let before = index - 1; before >= 0; before--) {
        const previous = lines[before]!;
        const level = indentOf(previous.line);
        if (level < indent || (level === indent && RESULT_LINE.test(previous.line))) {
          start = previous.at;
          break;
        }
      }
      timings.push({ startS: (start - this.started) / 1000, durationS: (at - start) / 1000 });
    });
    return timings;
  }
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}
