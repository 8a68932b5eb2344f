#!/usr/bin/env bash
# The whole test suite: builds with warnings as errors and runs every test, then does
# the same under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/.
source "$(dirname "$0")/scripts/common.sh"
mp_install_deps
jobs=$(nproc)

echo "== build (RelWithDebInfo, -Werror)"
mp_build build
echo "== tests"
(cd "$MP_ROOT/build" && ctest -j "$jobs" --output-on-failure --timeout 300)

echo "== build with ASan + UBSan (build-asan/)"
mp_build build-asan -DMP_SANITIZE=ON -DMP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
echo "== tests under ASan + UBSan"
(cd "$MP_ROOT/build-asan" &&
 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
 ctest -j "$jobs" --output-on-failure --timeout 600)
echo "== all tests passed (normal and sanitized builds)"
