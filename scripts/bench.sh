#!/bin/sh
# make bench: single-thread tokens/s of the reference path, with memory use,
# for stories260K and for a synthetic model of BitNet b1.58 2B4T's shape
# (hidden 2560, 30 layers, 20/5 heads, FFN 6912, vocab 128256; made once into
# models/, about 1.2 GB). The figures are the baseline the kernels must beat.
set -e
build=$1
bin=$build/lutfuse
shared=${SHARED:-../shared}
runs=${RUNS:-3}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

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
    printf '%-34s %-22s prefill %9.2f tok/s  decode %9.2f tok/s  peak RSS %7.1f MiB  file %7.1f MiB\n' \
        "$name" "$*" "$(echo $pre | tr ' ' '\n' | median)" "$(echo $dec | tr ' ' '\n' | median)" "$rss" "$fmib"
}

echo "reference path, 1 thread, median of $runs runs"
bench_model "stories260K (F32)" "$shared/testdata/models/stories260K.gguf" --prompt 64 --gen 64 --batch 1
bench_model "stories260K (F32)" "$shared/testdata/models/stories260K.gguf" --prompt 64 --gen 16 --batch 16

mkdir -p models
m2b=models/bench-2b-tq2_0.gguf
if [ ! -f "$m2b" ]; then
    echo "making $m2b (synthetic BitNet-2B shape, random ternary weights)..."
    vocab=""
    [ -f "$shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf" ] && vocab="--vocab $shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf"
    "$bin" mkmodel --shape 2b --arch bitnet-b1.58 --type TQ2_0 $vocab -o "$m2b"
fi
runs=1 bench_model "BitNet-2B shape (TQ2_0, bitnet-b1.58)" "$m2b" --prompt 8 --gen 2 --batch 1
runs=1 bench_model "BitNet-2B shape (TQ2_0, bitnet-b1.58)" "$m2b" --prompt 8 --gen 2 --batch 8
