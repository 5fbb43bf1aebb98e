#!/usr/bin/env bash
# Builds and runs one libFuzzer target (see Docs/RELIABILITY.md).
#
#   Scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]   build, then fuzz TARGET for SECONDS
#   Scripts/fuzz.sh TARGET build                            build only
#   Scripts/fuzz.sh list                                    the targets
#
# TARGET is a directory of Fuzz/ (Safetensors, Index, Config, TokenizerLoad, TokenizerCodec, TokenizerJSON,
# Arguments, ICLTask).
# A harness is compiled by swiftc directly with the package sources it needs, instrumented with
# -sanitize=fuzzer,address; Tensor is compiled once (ASan, -Onone, not coverage-instrumented) into Fuzz/.build.
# New corpus entries go to Fuzz/.build/corpus/TARGET (the committed seeds in Fuzz/TARGET/corpus are only
# read); a crash reproducer is written to Fuzz/.build/artifacts/TARGET/ and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(Safetensors Index Config TokenizerLoad TokenizerCodec TokenizerJSON Arguments ICLTask)
if [[ "${1:-}" == "list" ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
if [[ $# -lt 2 ]]; then
    echo "usage: Scripts/fuzz.sh TARGET SECONDS|build [libFuzzer options...]  (targets: ${targets[*]})" >&2
    exit 2
fi
target=$1 seconds=$2
shift 2
[[ -f "Fuzz/$target/Harness.swift" ]] || { echo "fuzz.sh: no target '$target' (targets: ${targets[*]})" >&2; exit 2; }

build=Fuzz/.build
mkdir -p "$build"
lm=Sources/LanguageModel
# The LanguageModel files that parse outside input, with what they need (nothing that imports Autodiff).
common=("$lm/JSON.swift" "$lm/ModelError.swift" "$lm/Float16Conversion.swift" "$lm/Safetensors.swift"
        "$lm/SafetensorsReader.swift" "$lm/SafetensorsWriter.swift" "$lm/SafetensorsIndex.swift" "$lm/AtomicWrite.swift")
tokenizer=("$lm/BPETokenizer.swift" "$lm/BPEMerge.swift" "$lm/ByteLevel.swift" "$lm/PreTokenizer.swift"
           "$lm/AddedTokenTrie.swift" "$lm/Tokenizer.swift" "$lm/JSONTokenizer.swift" "$lm/TokenizerSpec.swift"
           "$lm/TokenizerNormalizer.swift" "$lm/TokenizerPreTokenizer.swift" "$lm/Llama3PreTokenizer.swift"
           "$lm/TokenizerBPEModel.swift" "$lm/TokenizerDecoder.swift" "$lm/TokenizerPostProcessor.swift")
# Every family's config file (each imports LanguageModel, built below as a library for the Config target:
# the parsers, the CausalLMConfig protocol, the activations and the rope scalings).
configs=(Sources/OPT/OPTConfig.swift Sources/GPT2/GPT2Config.swift Sources/Llama/LlamaConfig.swift)
lmLibrary=("${common[@]}" "$lm/CausalLMConfig.swift" "$lm/LayerKernels.swift" "$lm/Rotary.swift")
# The ICL task parsers and prompt rendering (all of Sources/ICL but the Tokenizer-facing files, whose protocol
# is not in the parser library above).
icl=(Sources/ICL/ICLTaskError.swift Sources/ICL/ICLLimits.swift Sources/ICL/ICLExample.swift Sources/ICL/ICLLabel.swift
     Sources/ICL/ICLTemplate.swift Sources/ICL/ICLTaskFile.swift Sources/ICL/ICLExample+JSONLines.swift
     Sources/ICL/ICLTask.swift Sources/ICL/ICLTask+Prompt.swift)
needsLanguageModel=0
case $target in
    Arguments) sources=(Sources/TintCLI/Arguments.swift); needsTensor=0 ;;
    TokenizerLoad|TokenizerCodec|TokenizerJSON) sources=("${common[@]}" "${tokenizer[@]}"); needsTensor=1 ;;
    Config) sources=("${configs[@]}"); needsTensor=1; needsLanguageModel=1 ;;
    ICLTask) sources=("${icl[@]}"); needsTensor=1; needsLanguageModel=1 ;;
    *) sources=("${common[@]}"); needsTensor=1 ;;
esac

newer() {  # is $1 missing or older than any of the rest?
    local out=$1; shift
    [[ ! -e "$out" ]] && return 0
    for f in "$@"; do [[ "$f" -nt "$out" ]] && return 0; done
    return 1
}

flags=(-O -parse-as-library -suppress-warnings -package-name tint)
if [[ $needsTensor == 1 ]]; then
    tensorSources=(Sources/Tensor/*.swift Sources/Tensor/Kernels/*.swift)
    if newer "$build/libTensor.a" "${tensorSources[@]}"; then
        echo "fuzz.sh: building Tensor (ASan, -Onone)…" >&2
        # -Onone: the parsers use Tensor only to allocate and fill small tensors, and an optimised Tensor
        # takes ten times longer to compile; the harness and the OPT sources are optimised.
        swiftc -Onone -parse-as-library -suppress-warnings -package-name tint -sanitize=address -module-name Tensor -emit-module \
            -emit-module-path "$build/Tensor.swiftmodule" -emit-library -static -o "$build/libTensor.a" \
            "${tensorSources[@]}"
    fi
    link=(-I "$build" -L "$build" -lTensor)
    if [[ $needsLanguageModel == 1 ]]; then
        if newer "$build/libLanguageModel.a" "${lmLibrary[@]}" "$build/libTensor.a"; then
            echo "fuzz.sh: building LanguageModel's parsers (ASan, fuzzer coverage)…" >&2
            swiftc "${flags[@]}" -sanitize=fuzzer,address -module-name LanguageModel -I "$build" -emit-module \
                -emit-module-path "$build/LanguageModel.swiftmodule" -emit-library -static \
                -o "$build/libLanguageModel.a" "${lmLibrary[@]}"
        fi
        link=(-I "$build" -L "$build" -lLanguageModel -lTensor)  # static libraries: users first
    fi
else
    link=()
fi
binary="$build/fuzz-$target"
if newer "$binary" "Fuzz/$target/Harness.swift" "${sources[@]}" "$build/libTensor.a" \
        $([[ $needsLanguageModel == 1 ]] && echo "$build/libLanguageModel.a"); then
    echo "fuzz.sh: building $binary…" >&2
    rm -f "$binary"
    # (the linker warns about every ASan local symbol; those lines are dropped)
    swiftc "${flags[@]}" -sanitize=fuzzer,address -module-name "Fuzz$target" "${link[@]}" \
        "Fuzz/$target/Harness.swift" "${sources[@]}" -o "$binary" 2>&1 \
        | { grep -v "ld.gold: warning: Cannot export local symbol" || true; } >&2
    [[ -x "$binary" ]] || { echo "fuzz.sh: build failed" >&2; exit 1; }
fi
[[ "$seconds" == build ]] && exit 0

corpus="$build/corpus/$target"
mkdir -p "$corpus" "$build/artifacts/$target"
# Swift's backtracer would wait on a crashing fuzzer; libFuzzer and ASan report crashes themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export TINT_FUZZ_TOKENIZER=${TINT_FUZZ_TOKENIZER:-Tests/OPTTests/Fixtures/tokenizer}
dict=()
[[ -f "Fuzz/$target/dictionary.txt" ]] && dict=(-dict="Fuzz/$target/dictionary.txt")
exec "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target/" "${dict[@]}" "$@" "$corpus" "Fuzz/$target/corpus"
