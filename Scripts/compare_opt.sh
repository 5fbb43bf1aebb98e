#!/usr/bin/env bash
# Interleaved Swift-vs-PyTorch OPT timings: the same as `Scripts/compare_lm.sh opt …` (kept so that the commands in
# Docs/BENCHMARKS-opt.md still work). Usage (from the repository root):
#   Scripts/compare_opt.sh [THREADS] [ROUNDS] [OUT_DIR]        e.g. Scripts/compare_opt.sh 2 3 /tmp/compare-opt
exec "$(dirname "$0")/compare_lm.sh" opt "${1:-2}" "${2:-3}" "${3:-/tmp/compare-opt}"
