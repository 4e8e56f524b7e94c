#!/bin/sh
# Install the Debian packages lutfuse builds against, only those missing.
# Called by the Makefile on every run; when everything is present it costs a
# few pkg-config look-ups. Installing needs root (apt-get), as on CI machines.
set -e
need=""
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
for pair in libmicrohttpd:libmicrohttpd-dev jansson:libjansson-dev hwloc:libhwloc-dev \
            libcurl:libcurl4-openssl-dev cmocka:libcmocka-dev libpcre2-8:libpcre2-dev; do
    pc=${pair%%:*}; pkg=${pair#*:}
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$pc"; then
        need="$need $pkg"
    fi
done
# clang + its runtimes for the libFuzzer targets; curl for end-to-end tests.
command -v clang >/dev/null 2>&1 || need="$need clang"
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need="$need libclang-rt-dev"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -z "$need" ] && exit 0
echo "deps: installing$need" >&2
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing$need; run as root or: sudo apt-get install$need" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends $need >&2
