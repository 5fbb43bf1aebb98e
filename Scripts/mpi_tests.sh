#!/usr/bin/env bash
# The pipelined TinT over MPI on loopback (Docs/DISTRIBUTED.md), against the single-process executor:
#   1. tiny OPT (4 layers): -np 2 and -np 3 write the same bytes as one process (logits before/after and every
#      read-back weight), Float and Double, 1-2 steps, n_sim 4 and 1; a changed run (η) must differ (the check can fail);
#   2. OPT-125M's shape (12 layers, T 64): -np 2 and -np 3 bit-identical to one process; peak RSS per rank printed;
#      `tint dynamic-eval --distributed -np 2` prints the same result as one process, each rank loading only its
#      stage's tensors;
#   3. start-up handshake: ranks with different configurations or different builds stop with the field named;
#   4. a rank killed (SIGKILL) mid-run: the job exits non-zero within the bound and writes no result;
#   5. a rank stopped (SIGSTOP, a hang): its neighbours give up after --peer-timeout and the job exits non-zero.
# Needs Open MPI (Debian: openmpi-bin libopenmpi-dev). Builds `tint-mpi` and `tint` with TINT_MPI=1 in .build-mpi.
# Usage: Scripts/mpi_tests.sh [--quick]   (--quick: skip the OPT-125M shape)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0; [[ "${1:-}" == "--quick" ]] && quick=1

# Both executables of the MPI build (a fresh scratch path compiles the package once: ~3 min on 2 cores).
for product in tint-mpi tint; do TINT_MPI=1 swift build -c release --scratch-path .build-mpi --product $product; done
bin=".build-mpi/release/tint-mpi"
# Root in containers and CI: Open MPI refuses root unless told; 3 ranks on 2 cores need --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { mpirun --oversubscribe --bind-to none "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

same() {  # same NAME ARGS...: one process, -np 2, -np 3 write identical bytes
    local name=$1; shift
    "$bin" check "$@" --out "$work/$name.1" > "$work/$name.log1"
    for np in 2 3; do
        mpi -np $np "$bin" check "$@" --out "$work/$name.$np" > "$work/$name.log$np"
        cmp -s "$work/$name.1" "$work/$name.$np" || fail "$name: -np $np differs from one process ($*)"
    done
    grep -h "^rank" "$work/$name.log1" "$work/$name.log2" "$work/$name.log3" | grep -v wrote | sed "s/^/  $name: /"
    echo "ok: $name: -np 2 and -np 3 bit-identical to one process ($*)"
}

echo "== 1. tiny OPT"
same tiny-f-1 --steps 1
same tiny-f-2-sim1 --steps 2 --sim-layers 1 --lr 0.003
same tiny-d-2 --double --steps 2 --tokens 20
"$bin" check --steps 1 --lr 0.002 --out "$work/control" > /dev/null
! cmp -s "$work/control" "$work/tiny-f-1.1" || fail "a different learning rate wrote the same bytes: the comparison cannot fail"
echo "ok: control: another η gives other bytes"

if [[ $quick == 0 ]]; then
    echo "== 2. OPT-125M shape"
    same opt-125m --shape opt-125m --tokens 64
fi

echo "== 2b. tint dynamic-eval --distributed (tiny OPT fixture, 2 layers, 3 blocks): -np 2 prints what one process prints"
cli=".build-mpi/release/tint"
fixture=Tests/OPTTests/Fixtures/tiny-opt-pre-ln
ids=$(seq -s, 4 99)
eval_args=(dynamic-eval --model "$fixture" --ids "$ids" --train-fraction 0.5 --block 32 --method tint --lr 0.01 --steps 2 --json --quiet)
"$cli" "${eval_args[@]}" | grep -v '"seconds"' > "$work/eval.1"
mpi -np 2 "$cli" "${eval_args[@]}" --distributed 2> "$work/eval.err" | grep -v '"seconds"' > "$work/eval.2"
cmp -s "$work/eval.1" "$work/eval.2" || { diff "$work/eval.1" "$work/eval.2"; fail "dynamic-eval --distributed differs from one process"; }
grep -q '"eval_loss_after"' "$work/eval.2" || fail "dynamic-eval --distributed printed no result"
sed 's/^/  /' "$work/eval.err"
echo "ok: dynamic-eval --distributed -np 2: same JSON as one process ($(grep -o '"eval_loss_after" : [0-9.]*' "$work/eval.2"))"
# Each rank read only its stage's tensors: "rank R of N: loaded A of B tensors, P of Q parameters (… MiB)". Each holds
# fewer than all; together they hold all, the tied token embedding twice (the first stage's table, the last's head).
awk '/^rank [0-9]+ of 2: loaded/ { n++; a += $6; b = $8; p += $10; q = $12; if ($10 >= $12) bad = 1 }
     END { exit !(n == 2 && !bad && a == b + 1 && p > q) }' "$work/eval.err" \
    || fail "dynamic-eval --distributed: the ranks did not each load a part of the checkpoint (see the lines above)"
echo "ok: dynamic-eval --distributed -np 2: each rank loaded only its stage's tensors"

echo "== 3. start-up handshake"
set +e
mpi -np 1 "$bin" check --steps 1 : -np 1 "$bin" check --steps 2 > "$work/mismatch.log" 2>&1; rc=$?
set -e
[[ $rc != 0 ]] || fail "ranks with different configurations ran"
grep -q "runs a different TinT configuration than rank 0" "$work/mismatch.log" || { cat "$work/mismatch.log"; fail "no configuration-mismatch message"; }
echo "ok: configurations differ: exit $rc, '$(grep -m1 -o "stage 1 runs a different TinT configuration than rank 0" "$work/mismatch.log")'"
cp "$bin" "$work/tint-mpi-other"; printf 'another build' >> "$work/tint-mpi-other"
set +e
mpi -np 1 "$bin" check : -np 1 "$work/tint-mpi-other" check > "$work/build.log" 2>&1; rc=$?
set -e
[[ $rc != 0 ]] && grep -q "runs a different build than rank 0" "$work/build.log" || { cat "$work/build.log"; fail "builds differ: no mismatch error"; }
echo "ok: builds differ: exit $rc"

# Starts a 3-rank job of many runs, waits for rank 1's first run, sends it SIGNAL, and requires the job to end
# non-zero within BOUND seconds without writing its result.
interrupt() {
    local signal=$1 bound=$2; shift 2
    local log="$work/$signal.log" out="$work/$signal.out"
    mpi -np 3 "$bin" check --repeat 1000000 --out "$out" "$@" > "$log" 2>&1 &
    local job=$!
    for _ in $(seq 300); do grep -q "rank 1 pid .*first of" "$log" && break; sleep 0.1; done
    local pid; pid=$(grep -m1 -o "rank 1 pid [0-9]*" "$log" | awk '{print $4}')
    [[ -n "$pid" ]] || { kill "$job"; cat "$log"; fail "$signal: rank 1 never started"; }
    local start=$SECONDS
    kill -"$signal" "$pid"
    while kill -0 "$job" 2>/dev/null && (( SECONDS - start < bound )); do sleep 0.2; done
    if kill -0 "$job" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; kill "$job"; fail "$signal: the job still runs after $bound s"; fi
    set +e; wait "$job"; local rc=$?; set -e
    [[ $rc != 0 ]] || fail "$signal: the job exited 0"
    [[ ! -e "$out" ]] || fail "$signal: a result was written"
    echo "ok: rank 1 got SIG$signal: the job ended in $((SECONDS - start)) s with exit $rc, no result written"
    grep -m2 -E "rank [0-9] of 3:|noticed|killed|signal" "$log" | sed 's/^/  /' || true
}

echo "== 4. a killed rank"
interrupt KILL 60
echo "== 5. a hung rank"
interrupt STOP 60 --peer-timeout 5
echo "all MPI tests passed"
