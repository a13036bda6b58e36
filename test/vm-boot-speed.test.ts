// The boot levers that need no VM: the vmlinux extracted from a real Debian bzImage for QEMU's PVH
// boot, what is refused on the way (not a bzImage, an ELF without the PVH note), the kernel arguments,
// and the shinfo benchmark's arithmetic and its --host refusal.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { Kvm, decodeXenHvmCaps, xenHvmFlags } from '../lib/kvm';
import { projectRoot } from '../lib/paths';
import { resolveKernel } from '../lib/vm';
import { fastBootArgs } from '../lib/vm/qemu';
import { bootableKernel, extractVmlinux, hasPvhEntry } from '../lib/vm/vmlinux';
import { OTHER_FIXED_WAITS_MS, checkHostHasXen, summarize, xenFlagsLacking, type ShinfoRun } from '../bench/shinfo';
import { useCache } from './helpers/host';
import { kvmOrSkip } from './helpers/kvm';

t.test('the Debian kernel boots as its vmlinux, extracted once, with the PVH entry note', async (t) => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-vmlinux-'));
  t.teardown(() => fs.rmSync(cache, { recursive: true, force: true }));
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  useCache(t, cache);
  const image = bootableKernel(kernel.bzImage);
  t.not(image, kernel.bzImage, `a vmlinux in the cache: ${image}`);
  const elf = fs.readFileSync(image);
  t.equal(elf.readUInt32BE(0), 0x7f454c46, 'an ELF file');
  t.ok(hasPvhEntry(elf), 'with XEN_ELFNOTE_PHYS32_ENTRY');
  t.ok(elf.length > fs.statSync(kernel.bzImage).size * 2, 'uncompressed');
  const mtime = fs.statSync(image).mtimeMs;
  t.equal(bootableKernel(kernel.bzImage), image, 'the same file next time');
  t.ok(fs.statSync(image).mtimeMs >= mtime, 'not rewritten, only touched');
});

t.test('without a vmlinux to be had, the bzImage itself is booted', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-vmlinux-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.equal(extractVmlinux(Buffer.alloc(4096)), undefined, 'zeros: not a bzImage');
  t.equal(extractVmlinux(fs.readFileSync('/bin/busybox')), undefined, 'an ELF program: not a bzImage');
  t.notOk(hasPvhEntry(fs.readFileSync('/bin/busybox')), 'an ELF without the note');
  t.notOk(hasPvhEntry(Buffer.from('not an elf')), 'not an ELF');
  // A bzImage whose payload is not a known compression: booted as it is.
  const fake = Buffer.alloc(8192);
  fake.write('HdrS', 0x202, 'latin1');
  fake.writeUInt16LE(0x20f, 0x206);
  fake[0x211] = 1;
  fake[0x1f1] = 4;
  fake.writeUInt32LE(16, 0x248);
  fake.writeUInt32LE(64, 0x24c);
  const file = path.join(dir, 'bzImage');
  fs.writeFileSync(file, fake);
  useCache(t, path.join(dir, 'cache'));
  t.equal(bootableKernel(file), file);
});

t.test('the fast-boot kernel arguments', async (t) => {
  const args = fastBootArgs();
  t.match(args[0], /^lpj=\d+$/);
  t.ok(Number(args[0]!.slice(4)) > 1e6, 'a plausible loops-per-jiffy');
  t.ok(args.includes('no_timer_check'));
});

t.test('shinfo benchmark: the race loop and the fixed timer waits subtracted, race rates', async (t) => {
  const run = (wallMs: number, sends: number, sendSeconds: number): ShinfoRun => ({ wallMs, sends, sendSeconds });
  t.equal(OTHER_FIXED_WAITS_MS, 2400, 'the poll race\'s 2 s timer and four 100 ms timer stages');
  // C: 4.9 s with a 1.5 s send loop (time()-bounded); the port: 9 s with a 2 s loop, Node's start-up 3 s.
  const b = summarize('test kernel', [run(4900, 6000, 1.5)], [run(9000, 6000, 2)], [3000], ['Bail out! x']);
  t.equal(b.cWorkMs, 4900 - 1500 - 2400);
  t.equal(b.portWorkMs, 9000 - 2000 - 2400);
  t.equal(b.workRatio, 4600 / 1000);
  t.equal(b.bareNodeMs, 3000);
  t.equal(b.portWorkLessNodeMs, 1600);
  t.equal(b.workLessNodeRatio, 1600 / 1000);
  t.throws(() => summarize('test kernel', [run(4900, 6000, 1.5)], [run(9000, 6000, 2)], []), RangeError, 'a bare start-up per port run');
  t.equal(b.ratio, 9000 / 4900);
  t.equal(b.cSendsPerS, 4000);
  t.equal(b.portSendsPerS, 3000);
  t.equal(b.sendRatio, 0.75);
  t.same(b.failures, ['Bail out! x']);
});

t.test('shinfo benchmark --host: refused at once on a KVM without the Xen emulation, naming what it lacks', async (t) => {
  t.throws(() => checkHostHasXen(decodeXenHvmCaps(0)), /KVM_CAP_XEN_HVM \(0: no Xen emulation\) lacks SHARED_INFO, RUNSTATE, EVTCHN_SEND; run the benchmark without --host/);
  t.throws(() => checkHostHasXen(decodeXenHvmCaps(xenHvmFlags.SHARED_INFO | xenHvmFlags.RUNSTATE)), /\(0xc\) lacks EVTCHN_SEND;/);
  t.doesNotThrow(() => checkHostHasXen(decodeXenHvmCaps(0x7f)), '6.12\'s flags: it runs');
  if (!kvmOrSkip(t)) return;
  const host = (() => {
    using kvm = Kvm.open();
    return kvm.xenHvmCaps();
  })();
  // On a host with the Xen emulation --host would run the whole benchmark: the check above is enough.
  if (xenFlagsLacking(host).length) {
    const run = spawnSync(process.execPath, [path.join(projectRoot, 'dist', 'bench', 'shinfo.js'), '1', '--host'], { encoding: 'utf8', timeout: 60000 });
    t.equal(run.status, 1, 'this host (no Xen): exit 1');
    t.match(run.stderr, /^--host: this host's KVM_CAP_XEN_HVM \(.*\) lacks .*; run the benchmark without --host, in the VM$/m, 'with the reason');
    t.equal(run.stdout, '', 'and nothing measured');
  }
});
