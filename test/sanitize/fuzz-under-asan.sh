#!/bin/bash
# Runs the fuzz corpus (test/fuzz/child.js, the same seeds as test/fuzz.test.ts) against the addon built
# with AddressSanitizer and UndefinedBehaviorSanitizer, in a scratch copy of the built tree, so the
# project's own build/ is left alone. Node itself is not instrumented: libasan is preloaded into it, and
# only the addon's memory accesses are checked (plus every malloc/free, for double frees and leaks).
#
#   bash test/sanitize/fuzz-under-asan.sh [SEEDS] [CALLS]     (defaults: 20 seeds of 5000 calls)
#
# Needs the project built (npm install). Prints each seed's sanitizer findings, if any, and exits 1 when
# there were some.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seeds=${1:-20}
calls=${2:-5000}
tree=$(mktemp -d /tmp/kvm-xen-asan.XXXXXX)
trap 'rm -rf "$tree"' EXIT

cp -a "$root/native" "$root/binding.gyp" "$root/package.json" "$root/dist" "$tree/"
ln -s "$root/node_modules" "$tree/node_modules"
sanitizers="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
(cd "$tree" && CXXFLAGS="$sanitizers -g" LDFLAGS="$sanitizers" npx --no-install node-gyp rebuild >"$tree/build.log" 2>&1) ||
  { tail -30 "$tree/build.log"; exit 1; }
# After the rebuild (which starts from an empty build/): the guest programs and tools.
cp -a "$root/build/guest" "$root/build/tools" "$tree/build/"

libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
[[ $(nm -D "$tree/build/Release/kvm_xen.node") == *__asan_report* ]] || { echo "the addon was built without ASan" >&2; exit 1; }

# The canary: a library whose constructor writes past a malloc'd block, loaded the same way into the
# same Node. If ASan does not report it, a clean run below would prove nothing.
printf '#include <stdlib.h>\n__attribute__((constructor)) static void overflow(void) { char *p = malloc(8); p[8] = 1; free(p); }\n' >"$tree/canary.c"
gcc -shared -fPIC -fsanitize=address -o "$tree/canary.so" "$tree/canary.c"
canary=$(env -u NODE_OPTIONS LD_PRELOAD="$libasan" node -e "process.dlopen({ exports: {} }, '$tree/canary.so')" 2>&1 || true)
if [[ $canary == *heap-buffer-overflow* ]]; then
  echo "canary: ASan in Node reports a heap overflow in a loaded library"
else
  echo "canary: ASan saw nothing, the set-up is broken" >&2
  exit 1
fi

found=0
for seed in $(seq 1 "$seeds"); do
  log="$tree/seed-$seed.log"
  # detect_leaks: at exit, LeakSanitizer lists every allocation still reachable from nowhere; Node's own
  # are filtered below to those with an addon frame.
  status=0
  env -u NODE_OPTIONS LD_PRELOAD="$libasan $libubsan" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$log.asan" \
    UBSAN_OPTIONS="print_stacktrace=1:log_path=$log.ubsan" \
    LSAN_OPTIONS="report_objects=0" \
    node --expose-gc "$tree/dist/test/fuzz/child.js" "$seed" "$calls" >"$log" 2>&1 || status=$?
  report=$(tail -1 "$log")
  findings=$(cat "$log".asan.* "$log".ubsan.* 2>/dev/null | grep -c 'ERROR: AddressSanitizer\|runtime error:' || true)
  ours=$(cat "$log".asan.* 2>/dev/null | awk '/^Direct leak|^Indirect leak/{block=""; inleak=1} inleak{block=block"\n"$0} /^$/{if (inleak && block ~ /kvm_xen\.node|\/native\//) print block; inleak=0}' | grep -c 'leak of' || true)
  echo "seed $seed: exit status $status, $findings sanitizer errors, $ours leaks with an addon frame; ${report:0:90}"
  if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ] || [ "$ours" -ne 0 ]; then
    found=1
    cat "$log".asan.* "$log".ubsan.* 2>/dev/null | head -60 || true
  fi
done
exit $found
