#!/bin/sh
# make bench-serve: start `lutfuse serve` on a model, wait until GET /health
# answers 200, run a concurrency sweep with lutfuse-loadgen, print the
# throughput/latency table, and stop the server (also on error or Ctrl-C).
#
# usage: scripts/bench-serve.sh [BUILD_DIR]            (default build)
# Environment (defaults in brackets):
#   MODEL [models/default.gguf]  HOST [127.0.0.1]  PORT [18080]
#   SWEEP [1,2,4,8,16]           NUM_PROMPTS [64]   INPUT_LEN [64]  OUTPUT_LEN [64]
#   HEALTH_TIMEOUT [120] seconds to wait for /health
#   OUT [BUILD_DIR/bench-serve]  where sweep.json, sweep.svg and the logs go
#   SERVE_ARGS [--max-seqs <largest SWEEP level> --ctx 1024]
#                                extra arguments for `lutfuse serve` (by default as many
#                                KV slots as the largest concurrency, so that level is
#                                not measuring the queue)
#   LOADGEN_ARGS                 extra arguments for lutfuse-loadgen
set -eu

build=${1:-build}
bin=$build/lutfuse
loadgen=$build/lutfuse-loadgen
model=${MODEL:-models/default.gguf}
host=${HOST:-127.0.0.1}
port=${PORT:-18080}
sweep=${SWEEP:-1,2,4,8,16}
num_prompts=${NUM_PROMPTS:-64}
input_len=${INPUT_LEN:-64}
output_len=${OUTPUT_LEN:-64}
health_timeout=${HEALTH_TIMEOUT:-120}
out=${OUT:-$build/bench-serve}

for f in "$bin" "$loadgen"; do
    [ -x "$f" ] || { echo "bench-serve: $f is not built (run make)" >&2; exit 1; }
done
[ -f "$model" ] || { echo "bench-serve: model $model not found (set MODEL=...)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-serve: needs the curl command" >&2; exit 1; }
mkdir -p "$out"
url="http://$host:$port"

pid=""
stop_server() {
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        i=0 # give it 10 s to shut down cleanly, then insist
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    pid=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

if curl -s -o /dev/null "$url/health"; then
    echo "bench-serve: something already answers on $url (set PORT=...)" >&2
    exit 1
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
max_level=$(echo "$sweep" | tr ',' '\n' | sort -n | tail -1)
serve_args=${SERVE_ARGS:---max-seqs $max_level --ctx 1024}
# serve_args is split into words on purpose.
# shellcheck disable=SC2086
"$bin" serve -m "$model" --host "$host" --port "$port" $serve_args >"$out/server.log" 2>&1 &
pid=$!
echo "server: $bin serve -m $model --host $host --port $port $serve_args"
echo "server: pid $pid, log $out/server.log"

# Wait for GET /health to return 200, at most health_timeout seconds.
waited=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)" = 200 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "bench-serve: the server exited before it was healthy; its log:" >&2
        tail -n 20 "$out/server.log" >&2
        exit 1
    fi
    if [ "$waited" -ge "$((health_timeout * 10))" ]; then
        echo "bench-serve: no 200 from $url/health after $health_timeout s" >&2
        exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
done
echo "server healthy after $((waited / 10)).$((waited % 10)) s"

set -- --base-url "$url" --num-prompts "$num_prompts" --input-len "$input_len" \
    --output-len "$output_len" --ignore-eos --sweep "$sweep" --no-progress \
    --json "$out/sweep.json" --svg "$out/sweep.svg" --csv "$out/requests.csv"
echo "loadgen: $loadgen $* ${LOADGEN_ARGS:-}"
# shellcheck disable=SC2086
if ! "$loadgen" "$@" ${LOADGEN_ARGS:-} >"$out/loadgen.txt"; then
    echo "bench-serve: lutfuse-loadgen failed; its output:" >&2
    tail -n 40 "$out/loadgen.txt" >&2
    exit 1
fi
# The per-level summaries stay in the log; the table is the result.
sed -n '/^Concurrency sweep/,$p' "$out/loadgen.txt"
echo "details: $out/loadgen.txt, $out/sweep.json, $out/requests.csv"
