# spanheapd: the shared-memory span heap daemon, its client library and tools.
#
#   make                 build everything into build/
#   make check           run every test suite
#   make check-sanitize  the same tests built with ASan and UBSan
#   make bench           benchmarks: BENCH and RATIO lines
#   make deps            install missing Debian build dependencies
#
# Every target that builds runs `deps` first, so a fresh Debian 12
# machine needs nothing but make, gcc and root (or the printed apt line).

CC := gcc
BUILD ?= build
SAN ?=

DEB_PKGS := pkg-config libevent-dev libsystemd-dev check libjansson-dev
PC_MODULES := libevent libsystemd check jansson

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE -I. -MMD -MP $(SAN) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

# Evaluated when a recipe runs, that is after `deps` has installed them.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

SHM_SRCS := $(wildcard shm/*.c)
SHM_OBJS := $(SHM_SRCS:%.c=$(BUILD)/%.o)
SHM_LIB := $(BUILD)/libshm.a

TEST_LIB_SRCS := tests/testlib.c
TEST_SRCS := $(wildcard tests/shm/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)

BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)

# check's default of 4 s a test is short on this VM under sanitizers.
export CK_DEFAULT_TIMEOUT ?= 60

.PHONY: all deps check check-sanitize bench clean

all: $(SHM_LIB) $(TEST_BINS) $(BENCH_BINS)

deps:
	@missing=; \
	command -v pkg-config >/dev/null 2>&1 || missing=yes; \
	for m in $(PC_MODULES); do \
		pkg-config --exists $$m 2>/dev/null || missing=yes; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "missing build dependencies; install them with:"; \
			echo "  sudo apt-get install $(DEB_PKGS)"; \
			exit 1; \
		fi; \
		echo "installing build dependencies: $(DEB_PKGS)"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(DEB_PKGS) >/dev/null; \
	fi

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(SHM_LIB): $(SHM_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/shm/%: $(BUILD)/tests/shm/%.o $(BUILD)/tests/testlib.o $(SHM_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(SHM_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

check: $(TEST_BINS)
	@failed=; \
	for t in $(TEST_BINS); do \
		$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

check-sanitize:
	$(MAKE) BUILD=$(BUILD)/sanitize \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		check

bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do $$b || exit 1; done

clean:
	rm -rf $(BUILD)

.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
