# lutfuse - one non-recursive Makefile.
#
#   make            build build/lutfuse
#   make run        generate text from the default model (made on first run)
#   make test       unit + end-to-end tests, the same under ASan+UBSan, fuzzers
#   make bench      reference-path tokens/s for stories260K and a BitNet-2B shape
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

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -MMD -MP -I. $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS := $(PKG_LIBS) -lm -lpthread

# Per-ISA kernel files carry their own flags; everything else is baseline x86-64.
$(BUILD)/kernels/%_avx2.o: ISAFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/%_avx512.o: ISAFLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

MAIN_SRC := server/main.c
LIB_SRC := $(filter-out $(MAIN_SRC),$(wildcard engine/*.c kernels/*.c scheduler/*.c api/*.c server/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/liblutfuse.a
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_UTIL := $(filter-out $(TEST_SRC) tests/fuzz_%.c,$(wildcard tests/*.c))
TEST_UTIL_OBJ := $(TEST_UTIL:%.c=$(BUILD)/%.o)

.SECONDARY:
.PHONY: all run test test-unit test-asan check-tests bench fuzz-gguf clean deps
all: $(BUILD)/lutfuse

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ISAFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lutfuse: $(BUILD)/server/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_UTIL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# ---- running ----
DEFAULT_MODEL := models/default.gguf
MODEL ?= $(DEFAULT_MODEL)
PROMPT ?= Once upon a time

$(DEFAULT_MODEL): | $(BUILD)/lutfuse
	@mkdir -p $(@D)
	$(BUILD)/lutfuse mkmodel --arch bitnet-b1.58 --type TQ2_0 --seed 1 -o $@

run: $(BUILD)/lutfuse $(if $(filter $(DEFAULT_MODEL),$(MODEL)),$(DEFAULT_MODEL))
	$(BUILD)/lutfuse generate -m $(MODEL) -p "$(PROMPT)" -n 64

# ---- tests ----
# Tests run from the repository root so that ../shared/testdata resolves.
check-tests: $(TEST_BIN) $(BUILD)/lutfuse
	@sh scripts/run-tests.sh $(BUILD) $(TEST_BIN)

test-unit: check-tests

test-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 check-tests

# The closing line of the sanitizer run ("tests: N passed, N failed") ends the output.
test:
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory fuzz-gguf
	@$(MAKE) --no-print-directory test-asan

# ---- fuzzing (clang + libFuzzer, bounded time) ----
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BUILD)/fuzz/fuzz_gguf: tests/fuzz_gguf.c engine/gguf.c engine/status.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^

fuzz-gguf: $(BUILD)/fuzz/fuzz_gguf $(BUILD)/lutfuse
	@sh scripts/fuzz.sh $(BUILD) gguf $(FUZZ_SECONDS)

# ---- benchmarks ----
bench: $(BUILD)/lutfuse
	@sh scripts/bench.sh $(BUILD)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BUILD)/server/main.d $(TEST_BIN:=.d) $(TEST_UTIL_OBJ:.o=.d)
