#!/bin/sh
# make bench: tokens/s and memory of the scalar reference path (1 thread, the
# baseline) and of the kernel path (1 and 2 threads) in the same run, for
# stories260K and for a synthetic model of BitNet b1.58 2B4T's shape (hidden
# 2560, 30 layers, 20/5 heads, FFN 6912, vocab 128256; made once into models/,
# about 1.2 GB). Ratios against the reference are printed, since the machines
# are shared and absolute figures drift.
set -e
build=$1
bin=$build/lutfuse
shared=${SHARED:-../shared}
runs=${RUNS:-3}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ref_dec=1
bench_model() { # name file args...
    name=$1; file=$2; shift 2
    pre=""; dec=""
    for i in $(seq "$runs"); do
        out=$("$bin" bench -m "$file" --json "$@")
        pre="$pre $(echo "$out" | sed 's/.*"prefill_tok_s":\([0-9.]*\).*/\1/')"
        dec="$dec $(echo "$out" | sed 's/.*"decode_tok_s":\([0-9.]*\).*/\1/')"
    done
    rss=$(echo "$out" | sed 's/.*"peak_rss_mib":\([0-9.]*\).*/\1/')
    fmib=$(echo "$out" | sed 's/.*"file_mib":\([0-9.]*\).*/\1/')
    d=$(echo $dec | tr ' ' '\n' | median)
    case "$*" in *--reference*) ref_dec=$d ;; esac
    printf '%-30s %-44s prefill %8.2f tok/s  decode %8.2f tok/s (x%.1f)  peak RSS %7.1f MiB  file %7.1f MiB\n' \
        "$name" "$*" "$(echo $pre | tr ' ' '\n' | median)" "$d" "$(echo "$d $ref_dec" | awk '{print $1/$2}')" "$rss" "$fmib"
}

echo "median of $runs runs; (xN) = decode speed over the reference path in the row above it"
s260=$shared/testdata/models/stories260K.gguf
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 64 --batch 1 --reference --threads 1
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 64 --batch 1 --threads 2
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 16 --batch 16 --reference --threads 1
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 16 --batch 16 --threads 2

mkdir -p models
m2b=models/bench-2b-tq2_0.gguf
if [ ! -f "$m2b" ]; then
    echo "making $m2b (synthetic BitNet-2B shape, random ternary weights)..."
    vocab=""
    [ -f "$shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf" ] && vocab="--vocab $shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf"
    "$bin" mkmodel --shape 2b --arch bitnet-b1.58 --type TQ2_0 $vocab -o "$m2b"
fi
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 2 --batch 1 --reference --threads 1
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 16 --batch 1 --threads 1
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 16 --batch 1 --threads 2
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 2 --batch 8 --reference --threads 1
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 16 --batch 8 --threads 2
