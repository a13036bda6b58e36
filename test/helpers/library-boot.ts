// Run inside the runner VM by vmm-boot.test.ts: lib/vmm's bootCommand called as a library user would,
// printing on its last line what the CLI does not show (how the machine ended, how long it booted).
// A boot that does not exit 0 is tried once more, the first one's console tail in the record: under
// nested TCG the inner kernel ended as a guest panic before the command once (a clean-clone run on
// 2 Dec 2026; 8 boots and two runs of this test right after passed), the suite's own runs are judged
// the same way (helpers/suite-run.ts), and a regression fails both attempts.
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
  const last = first.status === 0 ? first : await attempt(kernel);
  const { consoleTail, ...record } = last;
  process.stdout.write(`${JSON.stringify({
    ...record,
    ...(last.status === 0 ? {} : { consoleTail }),
    ...(last === first ? {} : { firstAttempt: first }),
  })}\n`);
}

void main();
