// The boot levers that need no VM: the vmlinux extracted from a real Debian bzImage for QEMU's PVH
// boot, what is refused on the way (not a bzImage, an ELF without the PVH note), the kernel arguments,
// and the shinfo benchmark's arithmetic on stage lines.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { resolveKernel } from '../lib/vm';
import { fastBootArgs } from '../lib/vm/qemu';
import { bootableKernel, extractVmlinux, hasPvhEntry } from '../lib/vm/vmlinux';
import { summarize, type ShinfoRun } from '../bench/shinfo';

t.test('the Debian kernel boots as its vmlinux, extracted once, with the PVH entry note', async (t) => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-vmlinux-'));
  const saved = process.env['KVM_XEN_CACHE'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['KVM_XEN_CACHE'];
    else process.env['KVM_XEN_CACHE'] = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  });
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  process.env['KVM_XEN_CACHE'] = cache;
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
  const saved = process.env['KVM_XEN_CACHE'];
  process.env['KVM_XEN_CACHE'] = path.join(dir, 'cache');
  t.teardown(() => { if (saved === undefined) delete process.env['KVM_XEN_CACHE']; else process.env['KVM_XEN_CACHE'] = saved; });
  t.equal(bootableKernel(file), file);
});

t.test('the fast-boot kernel arguments', async (t) => {
  const args = fastBootArgs();
  t.match(args[0], /^lpj=\d+$/);
  t.ok(Number(args[0]!.slice(4)) > 1e6, 'a plausible loops-per-jiffy');
  t.ok(args.includes('no_timer_check'));
});

t.test('shinfo benchmark: stages from -v lines, fixed waits subtracted, race rates', async (t) => {
  const stages = [
    ['Delivering evtchn upcall', 0], ['Testing guest oneshot timer', 100], ['Testing restored oneshot timer', 200],
    ['Testing SCHEDOP_poll timeout', 300], ['Testing SCHEDOP_poll wake on masked event', 400], ['Testing timer in the past', 500],
    ['Testing shinfo lock corruption (KVM_XEN_HVM_EVTCHN_SEND)', 510], ['Testing shinfo lock corruption (SCHEDOP_poll)', 2510],
  ] as const;
  const run = (prefix: string, offset: number, wallMs: number, sends: number): ShinfoRun => ({
    wallMs,
    lines: [{ ms: offset - 5, text: 'TAP version 13' }, ...stages.map(([text, ms]) => ({ ms: ms + offset, text: `${prefix}${text}` }))],
    sends,
    sendSeconds: 2,
  });
  // C: stages from 50 ms, the end at 4510; the port: its Node start-up adds 1000 ms before the first stage.
  const b = summarize('test kernel', [run('', 50, 4560, 8000)], [run('# ', 1050, 5600, 6000)]);
  t.equal(b.cFixedMs, 100 + 100 + 100 + 100 + 2000 + 2000, 'C: the four timer stages, the send race, the poll race to the end');
  t.equal(b.portFixedMs, 4440);
  t.equal(b.cWorkMs, 4560 - 4400);
  t.equal(b.portWorkMs, 5600 - 4440);
  t.equal(b.workRatio, (5600 - 4440) / (4560 - 4400));
  t.equal(b.cSendsPerS, 4000);
  t.equal(b.sendRatio, 0.75);
  t.equal(b.stages.length, stages.length);
  t.same(b.stages.find((stage) => stage.name === 'Testing timer in the past'), { name: 'Testing timer in the past', cMs: 10, portMs: 10 });
});
