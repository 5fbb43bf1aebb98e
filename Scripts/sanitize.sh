#!/usr/bin/env bash
# Runs the test suites under a sanitizer, each in its own scratch path (see Docs/RELIABILITY.md).
#
#   Scripts/sanitize.sh address [swift test options...]   ASan (+ LeakSanitizer), scratch path .build-asan
#   Scripts/sanitize.sh thread  [swift test options...]   TSan, scratch path .build-tsan
#   Scripts/sanitize.sh all     [swift test options...]   both, one after the other
#
# e.g. `Scripts/sanitize.sh thread --filter MatmulTests`. Release builds, as every test run here (debug SIMD
# code is far too slow). Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then echo "usage: Scripts/sanitize.sh address|thread|all [swift test options...]" >&2; exit 2; fi
which=$1
shift
# Swift's crash backtracer can wait on a process that a sanitizer aborts; the sanitizers print their own.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/Scripts/lsan-suppressions.txt:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/Scripts/tsan-suppressions.txt}
run() {
    local sanitizer=$1; shift
    echo "== swift test -c release --sanitize=$sanitizer --scratch-path .build-${sanitizer:0:1}san $*" >&2
    swift test -c release --sanitize="$sanitizer" --scratch-path ".build-${sanitizer:0:1}san" "$@"
}
case $which in
    address|thread) run "$which" "$@" ;;
    all) run address "$@"; run thread "$@" ;;
    *) echo "sanitize.sh: unknown sanitizer '$which' (address, thread, all)" >&2; exit 2 ;;
esac
