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
VERSION := 0.1.0
SAN ?=

DEB_PKGS := pkg-config libevent-dev libsystemd-dev check libjansson-dev \
	python3-jsonschema
PC_MODULES := libevent libsystemd check jansson

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE -fPIC -fvisibility=hidden \
	-DSPANHEAPD_VERSION='"$(VERSION)"' -I. -MMD -MP $(SAN) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

# Evaluated when a recipe runs, that is after `deps` has installed them.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)
DAEMON_LIBS = $(shell pkg-config --libs libevent_pthreads libevent libsystemd jansson) -lpthread

SHM_SRCS := $(wildcard shm/*.c)
SHM_OBJS := $(SHM_SRCS:%.c=$(BUILD)/%.o)
SHM_LIB := $(BUILD)/libshm.a

# The daemon's objects but main, in a library its tests link.
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
DAEMON_LIB := $(BUILD)/libdaemon.a

# libspanclient: its own objects plus the shm pieces it needs, merged
# into one object whose hidden symbols are made local, so that neither
# the .so nor the .a exports anything but spanheap_*.
CLIENT_SRCS := $(wildcard libclient/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/shm/proto.o \
	$(BUILD)/shm/arena.o
CLIENT_SOVER := 0
CLIENT_SO := $(BUILD)/libspanclient.so
CLIENT_A := $(BUILD)/libspanclient.a
CLIENT_PC := $(BUILD)/libspanclient.pc
PREFIX ?= /usr/local

TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/lib/*.c))
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)

BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)

SPANCTL_SRCS := $(wildcard ctl/*.c)
SPANCTL_OBJS := $(SPANCTL_SRCS:%.c=$(BUILD)/%.o)

PROGS := $(BUILD)/spanheapd $(BUILD)/spanctl

# check's default of 4 s a test is short on this VM under sanitizers.
export CK_DEFAULT_TIMEOUT ?= 60

.PHONY: all deps check check-sanitize bench clean run

all: $(PROGS) $(CLIENT_SO) $(CLIENT_A) $(CLIENT_PC) $(TEST_BINS) \
	$(BENCH_BINS)

deps:
	@missing=; \
	command -v pkg-config >/dev/null 2>&1 || missing=yes; \
	for m in $(PC_MODULES); do \
		pkg-config --exists $$m 2>/dev/null || missing=yes; \
	done; \
	/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || missing=yes; \
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

# Objects depend on the Makefile, so a change of flags rebuilds them.
$(BUILD)/%.o: %.c Makefile | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c Makefile | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(SHM_LIB): $(SHM_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON_LIB): $(DAEMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/spanheapd: $(BUILD)/daemon/main.o $(DAEMON_LIB) $(SHM_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/spanctl: $(SPANCTL_OBJS) $(CLIENT_A) $(SHM_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(shell pkg-config --libs jansson) -lpthread

$(BUILD)/libclient/spanclient.o: $(CLIENT_OBJS)
	@mkdir -p $(@D)
	$(LD) -r -o $@ $^
	objcopy --localize-hidden $@

$(CLIENT_SO).$(CLIENT_SOVER): $(BUILD)/libclient/spanclient.o \
		libclient/libspanclient.map
	$(CC) $(LDFLAGS_ALL) -shared -Wl,-soname,libspanclient.so.$(CLIENT_SOVER) \
		-Wl,--version-script=libclient/libspanclient.map \
		-Wl,--no-undefined -o $@ $< -lpthread

$(CLIENT_SO): $(CLIENT_SO).$(CLIENT_SOVER)
	ln -sf $(<F) $@

$(CLIENT_A): $(BUILD)/libclient/spanclient.o
	@rm -f $@
	ar rcs $@ $^

$(CLIENT_PC): libclient/libspanclient.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Tests link everything: the client library statically, the daemon's
# objects for unit tests, and start build/spanheapd for the rest.
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB_OBJS) $(CLIENT_A) \
		$(DAEMON_LIB) $(SHM_LIB) | $(PROGS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) $(CHECK_LIBS) \
		$(DAEMON_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(CLIENT_A) $(SHM_LIB) | $(PROGS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lpthread

check: all
	@export SPANHEAPD=$(BUILD)/spanheapd SPANCTL=$(BUILD)/spanctl; failed=; \
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

# A daemon for trying things out: no root, no system paths.  Talk to it
# with SPANHEAP_SOCKET=run/spanheapd.sock build/spanctl stats.
RUN_DIR := $(CURDIR)/run
RUN_ARGS ?= --trace
run: $(PROGS) $(CLIENT_SO)
	@mkdir -p $(RUN_DIR)
	$(BUILD)/spanheapd --socket=$(RUN_DIR)/spanheapd.sock \
		--stats-file=$(RUN_DIR)/memstats.json $(RUN_ARGS)

clean:
	rm -rf $(BUILD) $(RUN_DIR)

.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
