// xen_shinfo_test's stage numbers are written in two languages: the host's stageNames
// (selftests/xen_shinfo/constants.ts) and the guest's enum (selftests/guests/xen_shinfo_test.c). This
// reads the C enum and fails when the two lists differ in any name or number.
import t from 'tap';

import fs from 'node:fs';
import path from 'node:path';

import { projectRoot } from '../lib/paths';
import { stageNames, TEST_GUEST_SAW_IRQ } from '../selftests/xen_shinfo/constants';

/** The members of the C file's `enum stage`, in order, with their values (implicit ones counted on). */
function guestStages(): Array<[string, number]> {
  const source = fs.readFileSync(path.join(projectRoot, 'selftests', 'guests', 'xen_shinfo_test.c'), 'utf8');
  const body = /enum stage \{([^}]*)\};/.exec(source)?.[1];
  if (body === undefined) throw new Error('no `enum stage { ... };` in the guest source');
  let next = 0;
  return body.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const [name, value] = item.split('=').map((part) => part.trim());
    if (value !== undefined) next = Number(value);
    return [name!, next++];
  });
}

t.test('the guest\'s stage enum is the host\'s list, name for name and number for number', async (t) => {
  const guest = guestStages();
  const host: Array<[string, number]> = [...stageNames.map((name, index): [string, number] => [name, index]), ['TEST_GUEST_SAW_IRQ', TEST_GUEST_SAW_IRQ]];
  t.same(guest, host);
});
