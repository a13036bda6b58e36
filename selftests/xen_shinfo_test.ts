#!/usr/bin/env node
// xen_shinfo_test: the TypeScript port of the kernel's tools/testing/selftests/kvm/x86/xen_shinfo_test.c
// (6.12). Runs as a kselftest-style program: KTAP v1 on stdout, exit 0 pass / 1 fail / 4 skip.
//
//   node dist/selftests/xen_shinfo_test.js [-v|--verbose]
//
// The test is xen_shinfo/main.ts; this file only starts it, from its start-up pack when that is fresh
// (lib/pack.ts: in the QEMU guest, loading the modules file by file over 9p took seconds).
import path from 'node:path';

// With its extension: Node then finds it at the first stat, without probing the bare name over 9p.
import { requirePacked } from './lib/pack.js';

if (require.main === module) {
  void requirePacked<typeof import('./xen_shinfo/main')>(path.join(__dirname, 'xen_shinfo', 'main.js')).then((test) => test.main());
}
