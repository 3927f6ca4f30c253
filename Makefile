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
           -I. -Ilibquant -Ilibquant/train -Ilibquant/cuda -Iformats -Icalib -Itests -Itests/bench -I$(BLAS_INC) -I/usr/include/cjson
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

LIB_SRC   := $(wildcard libquant/*.c libquant/train/*.c formats/*.c calib/*.c) \
             libquant/cuda/qz_cuda_common.c libquant/cuda/cuda_model.c
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)

# CUDA (docs/cuda.md): built when nvcc is found, else qz_cuda_none.c makes
# every GPU call say how to get it. The SAN and FUZZ builds always take the
# no-CUDA variant (ASan and the CUDA driver do not share an address space cleanly).
# CUDA_ARCHS: SASS targets; CUDA_PTX: the PTX that older cards JIT.
NVCC       ?= $(shell command -v nvcc 2>/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
CUDA_ARCHS ?= 90
CUDA_PTX   ?= 75
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
ifneq ($(SAN),1)
ifneq ($(FUZZ),1)
ifneq ($(NVCC),)
QZ_CUDA := 1
endif
endif
endif
ifeq ($(QZ_CUDA),1)
$(info nvcc found: building CUDA ($(NVCC), sm_$(CUDA_ARCHS) + compute_$(CUDA_PTX) PTX))
NVCCFLAGS ?= -O2 -g
QZ_NVCCFLAGS = $(NVCCFLAGS) -std=c++17 -I. -Ilibquant -Ilibquant/cuda -Iformats \
               $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
               -gencode arch=compute_$(CUDA_PTX),code=compute_$(CUDA_PTX) \
               -Xcompiler -Wall,-Wextra,-Wshadow,-Werror --Werror all-warnings
LIB_OBJ += $(BUILD)/libquant/cuda/qz_cuda.o
LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
else
$(info $(if $(NVCC),SAN/FUZZ build: skipping CUDA (the no-CUDA variant is linked),nvcc not found, skipping CUDA))
LIB_OBJ += $(BUILD)/libquant/cuda/qz_cuda_none.o
endif
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
.PHONY: all lib tools tests test test-long demo bench install uninstall man clean deps cuda-test
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

$(BUILD)/libquant/cuda/%.o: libquant/cuda/%.cu $(wildcard libquant/cuda/*.h) formats/pack_index.h libquant/qz_common.h
	@mkdir -p $(dir $@)
	$(NVCC) $(QZ_NVCCFLAGS) -c $< -o $@

# The vectorized kernels: -O3 for the loop vectorizer (kernels.c).
$(BUILD)/libquant/kernels.o: QZ_CFLAGS += -O3

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
tests: $(TESTS) $(FUZZ_REPLAY) $(TOOLS) $(BUILD)/cuda/qz-eval-host

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
	@BUILD=$(BUILD) SAN=$(SAN) SHARED=$(SHARED) bash tests/run.sh

# The suite, then the heavy end-to-end runs (the demo pipeline and the CI
# gate example on whole held-out texts), for humans, not CI.
test-long: test demo
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/ci-example.sh

demo: tools
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/demo.sh

# bits x group-size sweep on the shared model: CSV + PNG in a fresh /tmp/qz-sweep.* (scripts/sweep.sh)
.PHONY: sweep
sweep: tools
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/sweep.sh

# The GPU kernel tests (each kernel against its CPU twin) and benchmark:
# scripts/gpu-check.sh runs them on a machine with a GPU.
# The benchmark's cuBLAS reference (qz_cuda_bench.cu) exists in CUDA builds only.
CUDA_TEST_SRC := tests/cuda/test_cuda_kernels.c $(if $(QZ_CUDA),tests/cuda/bench_cuda.c)
CUDA_TESTS    := $(CUDA_TEST_SRC:tests/cuda/%.c=$(BUILD)/cuda/%)
$(BUILD)/cuda/bench_cuda: $(BUILD)/tests/cuda/bench_cuda.o $(BUILD)/libquant/cuda/qz_cuda_bench.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcublas -o $@
$(BUILD)/cuda/%: $(BUILD)/tests/cuda/%.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
cuda-test: $(CUDA_TESTS) $(TOOLS)
# The GPU kernel tests are compiled by `make tests` too, so an API change cannot
# break them unseen (here, after CUDA_TESTS is set: prerequisites expand at once).
tests: $(CUDA_TESTS)

# qz-eval whose "GPU" is the host (tests/cuda/qz_cuda_host.c, the kernels'
# CPU twins): runs cuda_model.c in every build, for tests/cli/test_cuda.sh.
$(BUILD)/cuda/qz-eval-host: $(BUILD)/tools/qz-eval.o $(TOOL_COMMON_OBJ) $(BUILD)/tests/cuda/qz_cuda_host.o $(BUILD)/libquant.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

bench: tools $(BENCHES)
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/bench.sh

# Man pages: one per tool, made from its docs/ page (scripts/md2man.sh).
MAN_SRC := $(wildcard docs/qz-*.md)
MANS    := $(MAN_SRC:docs/%.md=$(BUILD)/man/%.1)
$(BUILD)/man/%.1: docs/%.md scripts/md2man.sh
	@mkdir -p $(dir $@)
	bash scripts/md2man.sh $< $(QZ_VERSION) >$@
man: $(MANS)

QZ_VERSION := $(shell sed -n 's/^\#define QZ_VERSION "\(.*\)"/\1/p' libquant/qz_common.h)
HEADERS := $(wildcard libquant/*.h libquant/train/*.h libquant/cuda/*.h formats/*.h calib/*.h)
INSTALLED = $(TOOLS:$(BUILD)/bin/%=$(PREFIX)/bin/%) $(MANS:$(BUILD)/man/%=$(PREFIX)/share/man/man1/%) \
            $(PREFIX)/lib/libquant.a $(PREFIX)/lib/pkgconfig/libquant.pc $(HEADERS:%=$(PREFIX)/include/qz/%)

install: tools lib man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/libquant.a $(DESTDIR)$(PREFIX)/lib/
	# libquant.pc made here, for this PREFIX (a file cached in $(BUILD) would keep an earlier one)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(QZ_VERSION)|' -e 's|@BLAS_LIB@|$(BLAS_LIB)|' -e 's|@BLAS_INC@|$(BLAS_INC)|' \
	    scripts/libquant.pc.in >$(DESTDIR)$(PREFIX)/lib/pkgconfig/libquant.pc
	for h in $(HEADERS); do install -D -m 644 $$h $(DESTDIR)$(PREFIX)/include/qz/$$h; done

# Removes exactly what install wrote, then the directories it made if empty.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir -p $(addprefix $(DESTDIR)$(PREFIX)/include/qz/,libquant/train libquant/cuda libquant formats calib) 2>/dev/null
	-rmdir $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1 2>/dev/null

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(BENCH_SRC:%.c=$(BUILD)/%.d) $(CUDA_TEST_SRC:%.c=$(BUILD)/%.d) $(BUILD)/tests/cuda/qz_cuda_host.d \
         $(wildcard $(BUILD)/tests/fuzz/*.d)
