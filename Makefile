# qz - one Makefile. `make` builds libquant.a and the tools; `make test`,
# `make demo`, `make bench`, `make install PREFIX=...`.
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
tests: $(TESTS) $(TOOLS)

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
	@BUILD=$(BUILD) SHARED=$(SHARED) bash scripts/bench.sh

install: tools lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/qz
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libquant.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 libquant/*.h formats/*.h calib/*.h $(DESTDIR)$(PREFIX)/include/qz/

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(TEST_SRC:%.c=$(BUILD)/%.d)
