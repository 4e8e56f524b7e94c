#!/bin/sh
# Run every test binary given, from the repository root, and print one
# closing line "tests: N passed, N failed" counting cmocka test cases.
build=$1; shift
# end-to-end tests run the lutfuse binary of the same build (ASan runs ASan's)
export LUTFUSE_BIN="$build/lutfuse" LUTFUSE_LOADGEN_BIN="$build/lutfuse-loadgen"
passed=0; failed=0; broken=""
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -o '\[  PASSED  \] [0-9]*' | awk '{print $NF}' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | grep -o '\[  FAILED  \] [0-9]*' | awk '{print $NF}' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); broken="$broken $t"; fi
done
[ -n "$broken" ] && echo "crashed or exited non-zero:$broken"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
