#!/bin/sh
# make bench-fusion: temporal fusion through the scheduler, offline (no HTTP):
# `lutfuse bench --concurrency K` for K = 1, 4, 16, 32, 64 requests of prompt
# 64 and output 64 tokens arriving together, on a model (default: the
# synthetic BitNet-2B shape that make bench writes), THREADS threads (2).
# Prints output tokens/s, the mean fused batch, TTFT/ITL percentiles and the
# gain over K = 1 (one request at a time) measured in the same run.
set -e
build=$1
bin=$build/lutfuse
model=${MODEL:-models/bench-2b-tq2_0.gguf}
threads=${THREADS:-2}
levels=${LEVELS:-1 4 16 32 64}
shared=${SHARED:-../shared}
if [ ! -f "$model" ]; then
    echo "making $model (synthetic BitNet-2B shape, random ternary weights)..."
    mkdir -p "$(dirname "$model")"
    vocab=""
    [ -f "$shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf" ] && vocab="--vocab $shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf"
    "$bin" mkmodel --shape 2b --arch bitnet-b1.58 --type TQ2_0 $vocab -o "$model"
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; model $model; $threads threads"
field() { sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }
printf '%4s %14s %11s %12s %12s %12s %8s\n' K "output tok/s" "mean batch" "TTFT p50 ms" "TTFT p99 ms" "ITL p99 ms" gain
base=""
for k in $levels; do
    out=$("$bin" bench -m "$model" --concurrency "$k" --prompt 64 --gen 64 --threads "$threads" --no-serial --json)
    tps=$(echo "$out" | field output_tok_s)
    [ -z "$base" ] && base=$tps
    ttft=$(echo "$out" | sed 's/.*"ttft_ms":{\([^}]*\)}.*/\1/')
    itl=$(echo "$out" | sed 's/.*"itl_ms":{\([^}]*\)}.*/\1/')
    printf '%4s %14.1f %11s %12s %12s %12s %7.2fx\n' "$k" "$tps" "$(echo "$out" | field mean_batch)" \
        "$(echo "{$ttft}" | field p50)" "$(echo "{$ttft}" | field p99)" "$(echo "{$itl}" | field p99)" \
        "$(echo "$tps $base" | awk '{print $1/$2}')"
done
