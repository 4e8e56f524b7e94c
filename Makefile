# lutfuse - one non-recursive Makefile.
#
#   make            build build/lutfuse
#   make run        serve the default model (made on first run) on 127.0.0.1:8080
#   make test       unit + end-to-end tests, the same under ASan+UBSan, fuzzers
#   make bench      tokens/s: reference vs kernels, stories260K, SMALL and BitNet-2B shapes
#   make bench-kernels  ternary GEMM kernels (LUT, MAD, reference), 1 and 2 threads
#   make bench-fusion   the scheduler with 1..64 concurrent requests (offline)
#   make bench-serve    lutfuse serve driven by lutfuse-loadgen over a sweep
#
# Objects go to $(BUILD) (build/ by default; build/asan for sanitizer builds).
# Missing Debian packages are installed by scripts/deps.sh (needs root).

BUILD ?= build
SAN ?=
OPT ?= -O2
SHARED ?= ../shared
FUZZ_SECONDS ?= 30

ifeq ($(filter clean,$(MAKECMDGOALS)),)
DEPS_OK := $(shell sh scripts/deps.sh >&2 && echo yes)
ifneq ($(DEPS_OK),yes)
$(error missing build dependencies (see the message above))
endif
endif

PKGS := libmicrohttpd jansson hwloc libcurl libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ifeq ($(SAN),thread)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -MMD -MP -I. $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS := $(PKG_LIBS) -lm -lpthread

# Per-ISA kernel files carry their own flags; everything else is baseline x86-64.
AVX2FLAGS := -mavx2 -mfma -mf16c -ffp-contract=off
AVX512FLAGS := $(AVX2FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
$(BUILD)/kernels/%_avx2.o: ISAFLAGS := $(AVX2FLAGS)
$(BUILD)/kernels/%_avx512.o: ISAFLAGS := $(AVX512FLAGS) -mavx512bf16
$(BUILD)/kernels/%_gfni.o: ISAFLAGS := $(AVX512FLAGS) -mgfni
$(BUILD)/kernels/%_amx.o: ISAFLAGS := $(AVX512FLAGS) -mamx-tile -mamx-int8

MAIN_SRC := server/main.c
LIB_SRC := $(filter-out $(MAIN_SRC),$(wildcard engine/*.c kernels/*.c scheduler/*.c api/*.c server/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/liblutfuse.a
# loadgen/ stands alone (talks HTTP to any server); its modules other than
# main.c form a library the tests link too.
LOADGEN_SRC := $(wildcard loadgen/*.c)
LOADGEN_OBJ := $(filter-out $(BUILD)/loadgen/main.o,$(LOADGEN_SRC:%.c=$(BUILD)/%.o))
LOADGEN_LIB := $(BUILD)/libloadgen.a
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_UTIL := $(filter-out $(TEST_SRC) tests/fuzz_%.c tests/bench_%.c,$(wildcard tests/*.c))
TEST_UTIL_OBJ := $(TEST_UTIL:%.c=$(BUILD)/%.o)

.SECONDARY:
.PHONY: all run generate test test-unit test-asan test-tsan check-tests bench fuzz-gguf fuzz-api clean deps
all: $(BUILD)/lutfuse $(if $(LOADGEN_SRC),$(BUILD)/lutfuse-loadgen)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ISAFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lutfuse: $(BUILD)/server/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LOADGEN_LIB): $(LOADGEN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lutfuse-loadgen: $(BUILD)/loadgen/main.o $(LOADGEN_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_UTIL_OBJ) $(LIB) $(if $(LOADGEN_OBJ),$(LOADGEN_LIB))
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# ---- running ----
DEFAULT_MODEL := models/default.gguf
MODEL ?= $(DEFAULT_MODEL)
PROMPT ?= Once upon a time

DEFAULT_VOCAB := $(wildcard $(SHARED)/testdata/models/stories260K.gguf)

$(DEFAULT_MODEL): | $(BUILD)/lutfuse
	@mkdir -p $(@D)
	$(BUILD)/lutfuse mkmodel --arch bitnet-b1.58 --type TQ2_0 --seed 1 \
		$(if $(DEFAULT_VOCAB),--vocab $(DEFAULT_VOCAB)) -o $@

# make run: serve the default model (or MODEL=...) on 127.0.0.1:$(PORT); it
# prints the URL and a curl example. Ctrl-C stops it gracefully.
PORT ?= 8080
run: $(BUILD)/lutfuse $(if $(filter $(DEFAULT_MODEL),$(MODEL)),$(DEFAULT_MODEL))
	$(BUILD)/lutfuse serve -m $(MODEL) --port $(PORT)

# make generate: one completion on the command line, no server.
generate: $(BUILD)/lutfuse $(if $(filter $(DEFAULT_MODEL),$(MODEL)),$(DEFAULT_MODEL))
	$(BUILD)/lutfuse generate -m $(MODEL) -p "$(PROMPT)" -n 64

# ---- tests ----
# Tests run from the repository root so that ../shared/testdata resolves.
check-tests: $(TEST_BIN) all
	@sh scripts/run-tests.sh $(BUILD) $(TEST_BIN)

test-unit: check-tests

test-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 check-tests

# ThreadSanitizer over the multi-threaded modules.
TSAN_TESTS := test_sched test_threadpool
test-tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread OPT=-O1 \
		$(TSAN_TESTS:%=build/tsan/tests/%) build/tsan/lutfuse
	@TEST_FILTER='test_thread_mode' sh scripts/run-tests.sh build/tsan build/tsan/tests/test_sched
	@sh scripts/run-tests.sh build/tsan build/tsan/tests/test_threadpool

# The closing line of the sanitizer run ("tests: N passed, N failed") ends the output.
test:
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory fuzz-gguf
	@$(MAKE) --no-print-directory fuzz-api
	@$(MAKE) --no-print-directory test-tsan
	@$(MAKE) --no-print-directory test-asan

# ---- fuzzing (clang + libFuzzer, bounded time) ----
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/fuzz_gguf: tests/fuzz_gguf.c engine/gguf.c engine/status.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^

fuzz-gguf: $(BUILD)/fuzz/fuzz_gguf $(BUILD)/lutfuse
	@sh scripts/fuzz.sh $(BUILD) gguf $(FUZZ_SECONDS)

$(BUILD)/fuzz/fuzz_api: tests/fuzz_api.c $(wildcard api/*.c) engine/status.c engine/sampler_params.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(shell pkg-config --cflags jansson) -o $@ $^ $(shell pkg-config --libs jansson) -lm

fuzz-api: $(BUILD)/fuzz/fuzz_api
	@sh scripts/fuzz.sh $(BUILD) api $(FUZZ_SECONDS)

# ---- benchmarks ----
bench: $(BUILD)/lutfuse
	@sh scripts/bench.sh $(BUILD)

# make bench-fusion: K requests through the scheduler (offline), K = 1..64.
.PHONY: bench-fusion
bench-fusion: $(BUILD)/lutfuse
	@sh scripts/bench-fusion.sh $(BUILD)

# make bench-serve: lutfuse serve on the default model (or MODEL=...) driven
# by lutfuse-loadgen over a concurrency sweep; prints the table.
.PHONY: bench-serve
bench-serve: $(BUILD)/lutfuse $(BUILD)/lutfuse-loadgen $(if $(filter $(DEFAULT_MODEL),$(MODEL)),$(DEFAULT_MODEL))
	@MODEL="$(MODEL)" sh scripts/bench-serve.sh $(BUILD)

# Single-thread ternary GEMM kernel benchmark (LUT vs MAD, every ISA); not a
# test program, so `make test` does not run it. Table on stdout, JSON beside it.
.PHONY: bench-kernels
$(BUILD)/bench_kernels: $(BUILD)/tests/bench_kernels.o $(TEST_UTIL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

bench-kernels: $(BUILD)/bench_kernels
	$(BUILD)/bench_kernels --json $(BUILD)/bench_kernels.json

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(LOADGEN_OBJ:.o=.d) $(BUILD)/loadgen/main.d $(BUILD)/server/main.d $(TEST_BIN:=.d) $(TEST_UTIL_OBJ:.o=.d)
