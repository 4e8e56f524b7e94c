#!/bin/sh
# Run a libFuzzer target for a bounded time: scripts/fuzz.sh BUILD NAME SECONDS
# Seeds: tests/corpus/NAME/ (committed, small) plus whatever earlier runs kept
# in BUILD/fuzz/corpus-NAME. A finding makes the run (and make test) fail.
set -e
build=$1; name=$2; secs=$3
corpus=$build/fuzz/corpus-$name
mkdir -p "$corpus"
seeds=""
[ -d "tests/corpus/$name" ] && seeds="tests/corpus/$name"
echo "fuzz-$name: running for ${secs}s"
"$build/fuzz/fuzz_$name" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz/" "$corpus" $seeds 2>"$build/fuzz/$name.log" || {
    tail -40 "$build/fuzz/$name.log"; echo "fuzz-$name: FINDING (artifact in $build/fuzz/)"; exit 1; }
grep -E 'stat::number_of_executed_units|Done' "$build/fuzz/$name.log" | tail -2
echo "fuzz-$name: no finding"
