# qz - one Makefile. `make` builds libquant.a and the tools; `make test`,
# `make demo`, `make bench`, `make fuzz`, `make install PREFIX=...`.
# SAN=1 builds everything under AddressSanitizer + UBSan into build-san/.

CC      ?= cc
PREFIX  ?= /usr/local
SHARED  ?= ../shared

BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-pthread
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-pthread

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Werror
CFLAGS  ?= -O2 -g
QZ_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -ffp-contract=off $(WARN) -pthread \
           -I. -Ilibquant -Ilibquant/train -Iformats -Icalib -Itests -Itests/bench -I$(BLAS_INC) -I/usr/include/cjson
LDLIBS  := -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lcjson -lpcre2-8 -lz -lm -pthread

# BUILD=DIR puts objects elsewhere (parallel work trees sharing one checkout).
ifeq ($(FUZZ),1) # `make fuzz` re-enters with FUZZ=1 CC=clang: coverage for libFuzzer
QZ_CFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),1)
BUILD   ?= build-san
QZ_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

LIB_SRC   := $(wildcard libquant/*.c libquant/train/*.c formats/*.c calib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(wildcard tools/qz-*.c)
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TOOL_COMMON_OBJ := $(BUILD)/tools/cli.o
TEST_SRC  := $(wildcard tests/unit/test_*.c)
TESTS     := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/fuzz/<format>_<op>.c: one libFuzzer target each; replayed on their corpus by test_fuzz_<target>
FUZZ_SRC  := $(filter-out tests/fuzz/fuzz_common.c tests/fuzz/replay.c,$(wildcard tests/fuzz/*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCHES   := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
DEPS_STAMP := $(BUILD)/.deps-ok

.SECONDARY:
.PHONY: all lib tools tests test demo bench install clean deps
all: tools

# A fresh machine: install the Debian packages before the first compile.
$(DEPS_STAMP):
	@if [ ! -f /usr/include/cjson/cJSON.h ] || [ ! -f $(BLAS_INC)/cblas.h ] || \
	    [ ! -f /usr/include/pcre2.h ] || [ ! -f /usr/include/zlib.h ]; then \
	  bash scripts/install-deps.sh; fi
	@mkdir -p $(BUILD) && touch $@
deps: $(DEPS_STAMP)

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(QZ_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libquant.a: $(LIB_OBJ)
	$(AR) rcs $@ $^
lib: $(BUILD)/libquant.a

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON_OBJ) $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
tools: $(TOOLS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
tests: $(TESTS) $(FUZZ_REPLAY) $(TOOLS)

$(BUILD)/tests/fuzz/replay_%.o: tests/fuzz/replay.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(QZ_CFLAGS) -DQZ_FUZZ_TARGET='"$*"' -MMD -MP -c $< -o $@
$(BUILD)/tests/test_fuzz_%: $(BUILD)/tests/fuzz/replay_%.o $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/fuzz_common.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# `make fuzz`: the targets under clang -fsanitize=fuzzer,address,undefined in
# build-fuzz/fuzz/; `make fuzz-run FUZZ_SECONDS=N` runs each for N seconds
# (scripts/fuzz.sh, docs/hardening.md).
.PHONY: fuzz fuzz-targets fuzz-run
FUZZ_SECONDS ?= 60
fuzz:
	@command -v clang >/dev/null 2>&1 || bash scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang FUZZ=1 fuzz-targets
fuzz-targets: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/fuzz_common.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@
fuzz-run: fuzz
	@bash scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

test: tests
	@BUILD=$(BUILD) SHARED=$(SHARED) bash tests/run.sh

demo: tools
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/demo.sh

# bits x group-size sweep on the shared model: CSV + PNG in a fresh /tmp/qz-sweep.* (scripts/sweep.sh)
.PHONY: sweep
sweep: tools
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/sweep.sh

bench: tools $(BENCHES)
	@BUILD=$(BUILD) bash scripts/bench.sh

install: tools lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/qz
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libquant.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 libquant/*.h formats/*.h calib/*.h $(DESTDIR)$(PREFIX)/include/qz/

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(wildcard $(BUILD)/tests/fuzz/*.d)
