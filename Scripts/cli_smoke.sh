#!/usr/bin/env bash
# CLI smoke test (issue 18): every `tint` subcommand against the smallest legal models, with normal, closed and
# full output, asserting that no run ends by a signal (exit status < 128) and that the normal runs succeed.
#   Scripts/cli_smoke.sh            build tint (release) and run everything (about a minute)
# The models are made on the fly in a temporary directory:
#   tiny-v1   1 layer, 1 head, hidden 4, 2 positions, vocabulary 1 (zero weights, written here as safetensors)
#   tiny-tok  the same shape with vocabulary 4096 and the demo model's tokenizer, made by `tint train`
# and the committed tiny GPT-2 and Llama fixtures of the model zoo.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product tint >/dev/null
tint="$(swift build -c release --show-bin-path)/tint"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A safetensors file of zero-valued F32 tensors: "name:d0xd1 …" → header + data.
write_safetensors() {
    local out="$1"; shift
    local header="" offset=0 name shape dims count json_shape
    for spec in "$@"; do
        name="${spec%%:*}"; shape="${spec#*:}"
        count=1; json_shape=""
        IFS=x read -ra dims <<<"$shape"
        for d in "${dims[@]}"; do count=$((count * d)); json_shape+="${json_shape:+,}$d"; done
        header+="${header:+,}\"$name\":{\"dtype\":\"F32\",\"shape\":[$json_shape],\"data_offsets\":[$offset,$((offset + 4 * count))]}"
        offset=$((offset + 4 * count))
    done
    header="{$header}"
    while (( ${#header} % 8 != 0 )); do header+=" "; done
    local n=${#header} le="" i
    for i in 0 1 2 3 4 5 6 7; do le+=$(printf '\\%03o' $(( (n >> (8 * i)) & 255 ))); done
    { printf "$le"; printf '%s' "$header"; head -c "$offset" /dev/zero; } >"$out"
}

# tiny-v1: vocabulary 1, so every special id is 0.
v1="$work/tiny-v1"
mkdir -p "$v1"
cat >"$v1/config.json" <<'JSON'
{"model_type": "opt", "vocab_size": 1, "hidden_size": 4, "word_embed_proj_dim": 4, "num_hidden_layers": 1,
 "num_attention_heads": 1, "ffn_dim": 4, "max_position_embeddings": 2, "do_layer_norm_before": true,
 "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
JSON
L=model.decoder.layers.0
write_safetensors "$v1/model.safetensors" \
    model.decoder.embed_tokens.weight:1x4 model.decoder.embed_positions.weight:4x4 \
    model.decoder.final_layer_norm.weight:4 model.decoder.final_layer_norm.bias:4 \
    $L.self_attn.q_proj.weight:4x4 $L.self_attn.q_proj.bias:4 $L.self_attn.k_proj.weight:4x4 $L.self_attn.k_proj.bias:4 \
    $L.self_attn.v_proj.weight:4x4 $L.self_attn.v_proj.bias:4 $L.self_attn.out_proj.weight:4x4 $L.self_attn.out_proj.bias:4 \
    $L.self_attn_layer_norm.weight:4 $L.self_attn_layer_norm.bias:4 $L.fc1.weight:4x4 $L.fc1.bias:4 \
    $L.fc2.weight:4x4 $L.fc2.bias:4 $L.final_layer_norm.weight:4 $L.final_layer_norm.bias:4

# tiny-tok: trained for 2 steps by tint itself (this also smoke-tests `train`).
cat >"$work/tok-config.json" <<'JSON'
{"model_type": "opt", "vocab_size": 4096, "hidden_size": 4, "word_embed_proj_dim": 4, "num_hidden_layers": 1,
 "num_attention_heads": 1,
 "ffn_dim": 4, "max_position_embeddings": 2}
JSON
head -c 4000 Sources/TintCLI/DemoData/validation.txt >"$work/train.txt"
train=(train --config "$work/tok-config.json" --data "$work/train.txt" --validation "$work/train.txt"
       --tokenizer Sources/TintCLI/DemoModel --steps 2 --batch 1 --context 2 --eval-every 0 --checkpoint-every 0
       --threads 1 --quiet)
"$tint" "${train[@]}" --out "$work/tiny-tok" >/dev/null
tok="$work/tiny-tok"
sim=(--rows-per-prefix 4 --sim-heads 5)   # D_aux = 4: K = 1, D_sim = 20 in 5 heads
task=Tests/ICLTests/Fixtures/tiny-sentiment   # a committed ICL task

runs=(
    "--help"
    "params --shape opt-125m --json"
    "params --shape gpt2"
    "params --model $v1 ${sim[*]}"
    "perplexity --model $v1 --ids 0,0,0"
    "dynamic-eval --model $v1 --ids 0,0,0,0 --train-fraction 0.5 --method tint --lr 0.1 ${sim[*]}"
    "dynamic-eval --model $v1 --ids 0,0,0,0 --train-fraction 0.5 --method approx --lr 0.1 ${sim[*]}"
    "dynamic-eval --model $v1 --ids 0,0,0,0 --train-fraction 0.5 --method exact --lr 0.1 ${sim[*]}"
    "compare --model $v1 --ids 0,0,0,0 --train-fraction 0.5 --lr 0.1 ${sim[*]}"
    "perplexity --model $tok --file Sources/TintCLI/DemoData/validation.txt --block 2"
    "generate --model $tok --prompt In --max-tokens 4"
    "demo --model $tok --max-passages 2 --validation-passages 1 --lr 1e-3 ${sim[*]}"
    "icl --model Tests/ZooTests/Fixtures/tiny-llama --task $task --shots 2 --seeds 1 --compare --max-examples 2 --validation-examples 1 --lr-grid 1e-3,1e-2"
    "icl --model Tests/ZooTests/Fixtures/tiny-gpt2 --task $task --method tint --loss context --calibrate --seeds 1 --max-examples 2 --json"
    "icl --model Tests/ZooTests/Fixtures/tiny-llama --task $task --shots 2 --single-ft --compare --seeds 1 --max-examples 2"
    "icl --model Scripts/icl_model --task $task --shots 3 --seeds 1 --compare --calibrate --context 64 --max-examples 2"
)
# Runs that are expected to fail cleanly (a typed error, status 1 or 2) on these models.
failing=(
    "generate --model $v1 --prompt x"
    "demo --model $v1 ${sim[*]}"
    "perplexity --model $tok --ids 5000,1"
    "icl --model $tok --task $task --method icl"
    "icl --model $v1 --task $task --method icl"
    "icl --model $tok --task $work --method tint"
)

# Other families of the model zoo (their fixtures): whatever the registry supports, no run may end by a signal.
zoo=()
for m in Tests/ZooTests/Fixtures/tiny-gpt2 Tests/ZooTests/Fixtures/tiny-llama; do
    [[ -d $m ]] || continue
    zoo+=("perplexity --model $m --ids 1,2,3,4" "generate --model $m --prompt hi --max-tokens 3"
          "dynamic-eval --model $m --ids 1,2,3,4 --train-fraction 0.5 --method exact --lr 0.1"
          "dynamic-eval --model $m --ids 1,2,3,4 --train-fraction 0.5 --method approx --lr 0.1"
          "dynamic-eval --model $m --ids 1,2,3,4 --train-fraction 0.5 --method tint --lr 0.1"
          "params --model $m")
done

status_of() { set +e; eval "$1"; local s=$?; set -e; echo "$s"; }
failures=0
check() {  # check LABEL STATUS WANT   (WANT: ok | error | any)
    local label="$1" s="$2" want="$3" verdict=pass
    if (( s >= 128 )); then verdict="FAIL (signal $((s - 128)))"
    elif [[ $want == ok && $s != 0 ]]; then verdict="FAIL (status $s, expected 0)"
    elif [[ $want == error && ( $s != 1 && $s != 2 ) ]]; then verdict="FAIL (status $s, expected 1 or 2)"
    fi
    [[ $verdict == pass ]] || { echo "$verdict: $label"; failures=$((failures + 1)); }
}

for r in "${runs[@]}"; do
    check "tint $r" "$(status_of "\"$tint\" $r >/dev/null 2>&1")" ok
    check "tint $r 2>&-" "$(status_of "\"$tint\" $r >/dev/null 2>&-")" ok
    check "tint $r 2>/dev/full" "$(status_of "\"$tint\" $r >/dev/null 2>/dev/full")" ok
    check "tint $r >/dev/full 2>&-" "$(status_of "\"$tint\" $r >/dev/full 2>&-")" error
done
for r in "${failing[@]}"; do
    check "tint $r" "$(status_of "\"$tint\" $r >/dev/null 2>&1")" error
    check "tint $r 2>&- >/dev/full" "$(status_of "\"$tint\" $r >/dev/full 2>&-")" error
done
for r in "${zoo[@]}"; do
    check "tint $r" "$(status_of "\"$tint\" $r >/dev/null 2>&1")" any
    check "tint $r 2>&-" "$(status_of "\"$tint\" $r >/dev/null 2>&-")" any
    check "tint $r >/dev/full 2>&-" "$(status_of "\"$tint\" $r >/dev/full 2>&-")" any
done
# train itself with closed and full output (a fresh run directory each time).
check "tint train 2>&-" "$(status_of "\"$tint\" ${train[*]} --out $work/t1 >/dev/null 2>&-")" ok
check "tint train >/dev/full 2>&-" "$(status_of "\"$tint\" ${train[*]} --out $work/t2 --json >/dev/full 2>&-")" error

total=$(( 4 * ${#runs[@]} + 2 * ${#failing[@]} + 3 * ${#zoo[@]} + 2 ))
if (( failures > 0 )); then echo "cli smoke: $failures of $total runs failed"; exit 1; fi
echo "cli smoke: all $total runs ended as expected (no signal)"
