// Run inside the runner VM by vmm-boot.test.ts: lib/vmm's bootCommand called as a library user would,
// printing on its last line what the CLI does not show (how the machine ended, how long it booted).
// A boot that does not exit 0 is tried once more, the first one's console tail in the record: nested
// TCG made the inner kernel panic before the command about once in some 20 boots (a clean-clone run on
// 2 Dec 2026; none in 10 boots right after), the suite's own runs are judged the same way
// (helpers/suite-run.ts), and a regression fails both attempts.
import { bootCommand } from '../../lib/vmm';

const CONSOLE_TAIL = 4000;

async function attempt(kernel: string): Promise<{ status: number; end: unknown; bootMs: number | undefined; consoleTail: string }> {
  let consoleText = '';
  const result = await bootCommand({
    kernel, cpus: 2, command: ['true'], output: process.stdout,
    console: { write: (chunk) => { consoleText = (consoleText + chunk.toString()).slice(-CONSOLE_TAIL); } },
  });
  return { status: result.status, end: result.end, bootMs: result.bootMs, consoleTail: consoleText };
}

async function main(): Promise<void> {
  const [kernel] = process.argv.slice(2);
  if (kernel === undefined) throw new Error('usage: library-boot.js BZIMAGE');
  const first = await attempt(kernel);
  if (first.status === 0) {
    process.stdout.write(`${JSON.stringify({ status: first.status, end: first.end, bootMs: first.bootMs })}\n`);
    return;
  }
  const second = await attempt(kernel);
  const { consoleTail, ...record } = second;
  process.stdout.write(`${JSON.stringify({ ...record, ...(second.status === 0 ? {} : { consoleTail }), firstAttempt: first })}\n`);
}

void main();
