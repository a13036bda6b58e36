// A corrupt .deb in the cache (a byte flipped, a cut-short copy) is caught against the package lists'
// Size and SHA256 and fetched again, instead of failing in dpkg-deb (or, worse, unpacking wrong files).
// A private cache holds a copy of a small real package from the shared one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { cacheDir } from '../lib/cache';
import { availableVersions, CorruptPackage, debMismatch, unpackedPackage } from '../lib/debian/packages';
import { debianKernel } from '../lib/debian/kernel';
import type { ProgressEvent } from '../lib/progress';
import { useCache } from './helpers/host';

function sharedDeb(name: string, version: string): string | undefined {
  const file = path.join(cacheDir('debs'), `${name}_${version.replace(/:/g, '%3a')}_amd64.deb`);
  return fs.existsSync(file) ? file : undefined;
}

t.test('a corrupt cached .deb is fetched again', async (t) => {
  // The kernel's linux-kbuild (2 MB): small enough to fetch again in a test.
  const { abi, version } = await debianKernel(undefined);
  const name = `linux-kbuild-${abi}`;
  t.ok((await availableVersions(name)).includes(version), `the package source offers ${name} ${version}`);
  const shared = sharedDeb(name, version);
  const original = shared ? fs.readFileSync(shared) : undefined;

  const privateCache = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-cache-'));
  t.teardown(() => fs.rmSync(privateCache, { recursive: true, force: true }));
  useCache(t, privateCache);

  const events: ProgressEvent[] = [];
  const onProgress = (event: ProgressEvent): void => { events.push(event); };
  const deb = path.join(cacheDir('debs'), path.basename(shared ?? `${name}_${version}_amd64.deb`));
  const corrupt = async (bytes: Buffer, how: string): Promise<void> => {
    fs.rmSync(cacheDir('packages'), { recursive: true, force: true });
    fs.writeFileSync(deb, bytes);
    events.length = 0;
    const root = await unpackedPackage(name, version, onProgress);
    const said = events.filter((event) => event.kind === 'step').map((event) => event.text);
    t.ok(said.some((text) => text.startsWith(`${deb} is corrupt`)), `${how}: found corrupt (${said[0]})`);
    t.ok(said.some((text) => text.startsWith(`fetching ${name}`)), `${how}: fetched again`);
    t.equal(await debMismatch(deb, undefined), undefined);
    t.ok(fs.existsSync(path.join(root, 'usr')), `${how}: unpacked`);
  };

  const good = original ?? fs.readFileSync((await unpackedPackage(name, version), deb));
  const flipped = Buffer.from(good);
  for (let at = 1000; at < flipped.length; at += 100000) flipped[at]! ^= 0xff;
  await corrupt(flipped, 'bytes flipped');
  t.ok(fs.readFileSync(deb).equals(good), 'the fetched copy is the real one');
  await corrupt(good.subarray(0, good.length >> 1), 'cut short');

  // The check itself names what is wrong.
  const listed = { size: good.length, sha256: '0'.repeat(64) };
  t.match(await debMismatch(deb, listed), /^SHA256 [0-9a-f]{64} where the package lists say 0{64}$/);
  t.match(await debMismatch(deb, { ...listed, size: 1 }), `${good.length} bytes where the package lists say 1`);
  t.ok(new CorruptPackage(deb, 'x') instanceof Error);
});
