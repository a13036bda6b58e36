// The CLI's one rule for option errors: whichever verb parses its options, an unknown option is a usage
// error — exit status 64, the option named, the verb's usage printed — and nothing else runs.
import t from 'tap';

import { runCli } from './helpers/vm';

for (const verb of ['info', 'setup', 'test', 'build-kvm']) {
  t.test(`kvm-xen ${verb} --bogus is a usage error`, async (t) => {
    const run = await runCli([verb, '--bogus']);
    t.equal(run.status, 64, 'exit status 64');
    t.match(run.stderr, new RegExp(`^kvm-xen ${verb}: Unknown option '--bogus'[\\s\\S]*\\nusage: kvm-xen ${verb} `), 'the option named, then the verb\'s usage');
    t.equal(run.stdout, '', 'nothing ran');
  });
}
