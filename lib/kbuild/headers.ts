// Debian's kernel headers for building modules out of tree: the arch headers, the common headers and
// kbuild (scripts, tools) of one ABI, unpacked together so their relative symlinks resolve, once per
// ABI in the cache. The arch Makefile includes the common one by an absolute /usr/src path; it is
// pointed at the unpacked copy.
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { downloadedPackage, newestVersion, unpackDeb } from '../debian/packages';
import type { OnProgress } from '../progress';

/** The directory to run `make -C` in for modules of this ABI (e.g. 6.12.117+deb12). */
export async function headersTree(abi: string, onProgress?: OnProgress): Promise<string> {
  const dir = path.join(cacheDir('kbuild'), `headers-${abi}`);
  const packages = [`linux-headers-${abi}-amd64`, `linux-headers-${abi}-common`, `linux-kbuild-${abi}`];
  const arch = (root: string): string => path.join(root, 'usr', 'src', `linux-headers-${abi}-amd64`);
  await cachedDirectory(dir, async (tmp) => {
    for (const name of packages) {
      await unpackDeb(await downloadedPackage(name, await newestVersion(name), onProgress), tmp, onProgress);
    }
    const makefile = path.join(arch(tmp), 'Makefile');
    const text = fs.readFileSync(makefile, 'utf8');
    fs.writeFileSync(makefile, text.replace(/include \/usr\/src\//g, `include ${path.join(dir, 'usr', 'src')}/`));
  });
  return arch(dir);
}
