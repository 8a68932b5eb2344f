#!/usr/bin/env bash
# The whole test suite (13 min 10 s on an unloaded 2-core machine, fresh clone, measured 2026-12-02):
#   1. clang-format check of the tree (tour/phrases.cpp is `// clang-format off`);
#   2. build with warnings as errors and run every test (build/);
#   3. install build/ (configured afresh: its cache is removed first) into a temporary prefix
#      and build tests/consumer against it with find_package(mp);
#   4. the frame decoder's libFuzzer target (clang; it and the two library sources it needs),
#      60 s over fuzz/corpus (build-fuzz/);
#   5. the threaded tests under ThreadSanitizer (build-tsan/, tests/test_threads.cpp);
#   6. every test again (but the practice checkers) under AddressSanitizer + UndefinedBehavior-
#      Sanitizer (build-asan/).
source "$(dirname "$0")/scripts/common.sh"
mp_install_deps
jobs=$(nproc)
# Each stage's heading says how long the suite has run so far.
stage() { echo "== $* [$((SECONDS / 60)) min $((SECONDS % 60)) s]"; }

stage "clang-format check"
(cd "$MP_ROOT" && git ls-files -- '*.cpp' '*.hpp' '*.h' | xargs clang-format --dry-run --Werror)

stage "build (RelWithDebInfo, -Werror)"
# Without its cache, build/'s configure is a first one, as on a fresh clone: the install below
# then checks what one fresh configure installs (a second configure once hid an empty include
# path). Make keeps every object whose flags did not change, so nothing is rebuilt for it.
rm -f "$MP_ROOT/build/CMakeCache.txt"
mp_build build
stage "tests"
(cd "$MP_ROOT/build" && ctest -j "$jobs" --output-on-failure --timeout 300)

stage "install that build (its configure was a first one), then build a find_package(mp) consumer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$MP_ROOT/build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$MP_ROOT/tests/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" -j "$jobs" >/dev/null
"$tmp/consumer/consumer"

stage "fuzz the frame decoder (libFuzzer, 60 s)"
CXX=clang++ mp_build build-fuzz -DMP_BUILD_FUZZ=ON -DMP_SANITIZE=ON -DMP_BUILD_TESTS=OFF \
    -DMP_BUILD_EXAMPLES=OFF -DMP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo --target fuzz_decode
"$MP_ROOT/fuzz/run.sh" "$MP_ROOT/build-fuzz/fuzz/fuzz_decode" 60

stage "threaded tests under ThreadSanitizer (build-tsan/)"
mp_build build-tsan -DMP_TSAN=ON -DMP_BUILD_BENCH=OFF -DMP_BUILD_EXAMPLES=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo --target test_threads
(cd "$MP_ROOT/build-tsan" &&
 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
 ctest -j "$jobs" -R '^Threads\.' --output-on-failure --timeout 600)

stage "build with ASan + UBSan (build-asan/)"
mp_build build-asan -DMP_SANITIZE=ON -DMP_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
stage "tests under ASan + UBSan"
# Every test but the practice checkers (All/Exercise.*, Practice.*): those compile and judge ~50
# student programs — the tour's logic, run by the normal build above — and would double this
# stage's time while putting no more of the library under the sanitizers.
(cd "$MP_ROOT/build-asan" &&
 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
 ctest -j "$jobs" --output-on-failure --timeout 600 -E '^(All/Exercise[.]|Practice[.])')
stage "all checks passed (format, tests, install, fuzz, TSan, ASan + UBSan)"
