#!/bin/sh
# make bench: tokens/s and memory of lutfuse's forward pass, in one run:
#  - stories260K (the real test model): scalar reference (1 thread, the
#    baseline) against the kernel path;
#  - SMALL, a synthetic ternary llama of hidden 1024, 12 layers, 16/4 heads,
#    FFN 2816, vocab 32000 with a Q4_K embedding and a Q6_K output head (the
#    shape of issue #3's targets, made with mkmodel + quantize): one stream,
#    32 and 64 sequences decoding together, and a 512-token prefill, 2 threads,
#    with the reference at one stream for the ratio;
#  - BitNet-2B, a synthetic model of BitNet b1.58 2B4T's shape (hidden 2560,
#    30 layers, 20/5 heads, FFN 6912, vocab 128256; TQ2_0, ~1.2 GB, made once).
# Models go to models/ (not in git). Medians of RUNS runs (default 3); ratios
# are against the reference row of the same model in the same run, since the
# machines are shared and absolute figures drift. THREADS (default 2).
set -e
build=$1
bin=$build/lutfuse
shared=${SHARED:-../shared}
runs=${RUNS:-3}
threads=${THREADS:-2}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; kernels: $("$bin" bench -m "$shared/testdata/models/stories260K.gguf" --prompt 1 --gen 1 --json | sed 's/.*"isa":"\([a-z0-9+]*\)".*/\1/')"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }

ref_dec=1
bench_model() { # name file args...
    name=$1; file=$2; shift 2
    pre=""; dec=""
    for i in $(seq "$runs"); do
        out=$("$bin" bench -m "$file" --json "$@")
        pre="$pre $(echo "$out" | field prefill_tok_s)"
        dec="$dec $(echo "$out" | field decode_tok_s)"
    done
    rss=$(echo "$out" | field peak_rss_mib)
    fmib=$(echo "$out" | field file_mib)
    d=$(echo $dec | tr ' ' '\n' | median)
    case "$*" in *--reference*) ref_dec=$d ;; esac
    printf '%-20s %-46s prefill %8.1f tok/s  decode %8.1f tok/s (x%5.1f)  peak RSS %7.1f MiB  file %7.1f MiB\n' \
        "$name" "$*" "$(echo $pre | tr ' ' '\n' | median)" "$d" "$(echo "$d $ref_dec" | awk '{print $1/$2}')" "$rss" "$fmib"
}

echo "median of $runs runs; (xN) = decode speed over the reference row of the same model"
s260=$shared/testdata/models/stories260K.gguf
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 64 --batch 1 --reference --threads 1
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 64 --batch 1 --threads "$threads"
bench_model "stories260K (F32)" "$s260" --prompt 64 --gen 16 --batch 16 --threads "$threads"

mkdir -p models
small=models/bench-small-tq2_0.gguf
if [ ! -f "$small" ]; then
    echo "making $small (synthetic ternary llama, SMALL shape, Q4_K embedding, Q6_K head)..."
    vocab=""
    [ -f "$shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf" ] && vocab="--vocab $shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf"
    "$bin" mkmodel --shape small --arch llama --type F16 --untied $vocab -o models/bench-small-f16.gguf
    "$bin" quantize models/bench-small-f16.gguf "$small" TQ2_0 --embd-type Q4_K --output-type Q6_K
    rm -f models/bench-small-f16.gguf
fi
bench_model "SMALL (TQ2_0)" "$small" --prompt 8 --gen 8 --batch 1 --reference --threads 1
bench_model "SMALL (TQ2_0)" "$small" --prompt 8 --gen 128 --batch 1 --threads "$threads"
bench_model "SMALL (TQ2_0)" "$small" --prompt 8 --gen 32 --batch 32 --threads "$threads"
bench_model "SMALL (TQ2_0)" "$small" --prompt 8 --gen 32 --batch 64 --threads "$threads"
bench_model "SMALL (TQ2_0)" "$small" --prompt 512 --gen 1 --batch 1 --threads "$threads"

m2b=models/bench-2b-tq2_0.gguf
if [ ! -f "$m2b" ]; then
    echo "making $m2b (synthetic BitNet-2B shape, random ternary weights)..."
    vocab=""
    [ -f "$shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf" ] && vocab="--vocab $shared/testdata/tokenizer/ggml-vocab-llama-bpe.gguf"
    "$bin" mkmodel --shape 2b --arch bitnet-b1.58 --type TQ2_0 $vocab -o "$m2b"
fi
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 2 --batch 1 --reference --threads 1
bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 16 --batch 1 --threads "$threads"
bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 8 --gen 8 --batch 32 --threads "$threads"
runs=1 bench_model "BitNet-2B (TQ2_0)" "$m2b" --prompt 128 --gen 1 --batch 1 --threads "$threads"
