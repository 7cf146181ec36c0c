# spanheapd: the shared-memory span heap daemon, its client library and tools.
#
#   make                 the programs and the library, into build/
#   make check           every test suite, one line each, and a summary
#   make check-NAME      one suite, e.g. make check-e2e/test_server
#   make check-sanitize  the same tests built with ASan and UBSan
#   make analyze         gcc -fanalyzer over every source; a finding fails
#   make check-debug     the same tests built with SPANHEAP_DEBUG=1: the
#                        heap runs heap_check() after every change
#   make bench           benchmarks: BENCH and RATIO lines
#   make deps, deps-test install the build's, the tests' Debian packages
#   V=1                  show the commands, not one short line each
#
# A fresh Debian 12 machine needs make and gcc.  The first make installs
# the build's packages (make deps) as root, or prints the apt-get line
# and stops; the first make check also the tests' (make deps-test).

.DEFAULT_GOAL := all

# $(CC) from the command line or the environment wins; make's own
# default (cc) does not.
ifeq ($(origin CC),default)
CC := gcc
endif
CC ?= gcc
# SPANHEAP_DEBUG=1 builds a heap that checks itself after every call
# that changes it, into its own tree.
SPANHEAP_DEBUG ?=
BUILD ?= $(if $(SPANHEAP_DEBUG),build/debug,build)
VERSION := 0.1.0
SAN ?=
V ?= 0

# What a plain make needs, and what the tests need besides.
BUILD_PKGS := pkg-config libevent-dev libsystemd-dev libjansson-dev
BUILD_CMDS := pkg-config
BUILD_PC := libevent libevent_pthreads libsystemd jansson
# The benchmarks, built with the tests, hold the span path against
# Boost.Interprocess (header-only) in bench/boost_ipc.cc.
BENCH_PKGS := g++ libboost-dev
BENCH_CMDS := g++
BENCH_HDRS := boost/interprocess/managed_shared_memory.hpp
TEST_PKGS := check valgrind mandoc man-db systemd python3-jsonschema gdb \
	bash-completion \
	$(BENCH_PKGS)
TEST_CMDS := valgrind mandoc man systemd-analyze systemd-socket-activate gdb \
	$(BENCH_CMDS)
# The Prometheus endpoint's suite (tests/metrics/check-metrics.sh).
TEST_PKGS += prometheus curl
TEST_CMDS += promtool curl
TEST_PC := check
TEST_PY := jsonschema
TEST_HDRS := $(BENCH_HDRS)
# check-completion sources bash-completion's library.
TEST_FILES := /usr/share/bash-completion/bash_completion

# Quiet: one short line a step, the commands with V=1.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-8s %s\n' '$(1)' '$(2)'
endif

# $(call need,WHAT,COMMANDS,PKG_CONFIG_MODULES,PYTHON_MODULES,PACKAGES,
# C++_HEADERS,FILES): install PACKAGES if any of the rest is missing, as root;
# else say what to run as root, and fail.  A fresh machine has no
# package lists yet.
define need
@missing=; \
	for c in $(2); do \
		command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; \
	done; \
	for m in $(3); do \
		pkg-config --exists $$m 2>/dev/null || missing="$$missing $$m.pc"; \
	done; \
	for m in $(4); do \
		/usr/bin/python3 -c "import $$m" 2>/dev/null || \
			missing="$$missing python3-$$m"; \
	done; \
	for f in $(7); do \
		[ -e $$f ] || missing="$$missing $$f"; \
	done; \
	for h in $(6); do \
		printf '#include <%s>\n' $$h | \
			$(CXX) -x c++ -E -o /dev/null - 2>/dev/null || \
			missing="$$missing <$$h>"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "$(1) missing:$$missing" >&2; \
			echo "as root: apt-get install $(5)" >&2; \
			exit 1; \
		fi; \
		echo "installing $(1): $(5)"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(5) >/dev/null; \
	fi
endef

.PHONY: deps deps-test
deps:
	$(call need,build dependencies,$(BUILD_CMDS),$(BUILD_PC),,$(BUILD_PKGS))

deps-test: deps
	$(call need,test dependencies,$(TEST_CMDS),$(TEST_PC),$(TEST_PY),$(TEST_PKGS),$(TEST_HDRS),$(TEST_FILES))

# Provisioning happens once, before any rule runs: make first brings
# the included files up to date, which runs deps (deps-test for a test
# goal) and writes down what pkg-config says, then starts over.
GOALS := $(or $(MAKECMDGOALS),all)
TEST_GOALS := check check-% tests analyze $(BUILD)/tests/% \
	$(BUILD)/analyze/%
ifneq ($(filter-out clean deps deps-test deps-fuzz,$(GOALS)),)
include $(BUILD)/config.mk
endif
ifneq ($(filter $(TEST_GOALS),$(GOALS)),)
include $(BUILD)/config-test.mk
endif
ifneq ($(filter fuzz fuzz-ci $(BUILD)/fuzz/%,$(GOALS)),)
include $(BUILD)/config-fuzz.mk
endif

$(BUILD)/config.mk: Makefile
	$(call need,build dependencies,$(BUILD_CMDS),$(BUILD_PC),,$(BUILD_PKGS))
	@mkdir -p $(@D)
	@{ echo "# pkg-config's flags for the build, written by make"; \
	   echo "DAEMON_LIBS := $$(pkg-config --libs libevent_pthreads libevent libsystemd jansson) -lpthread"; \
	   echo "JANSSON_LIBS := $$(pkg-config --libs jansson)"; \
	} >$@.tmp && mv $@.tmp $@

# After config.mk: two apt-get runs at once would fight over the lock.
$(BUILD)/config-test.mk: Makefile $(BUILD)/config.mk
	$(call need,test dependencies,$(TEST_CMDS),$(TEST_PC),$(TEST_PY),$(TEST_PKGS),$(TEST_HDRS),$(TEST_FILES))
	@mkdir -p $(@D)
	@{ echo "# pkg-config's flags for the tests, written by make"; \
	   echo "CHECK_CFLAGS := $$(pkg-config --cflags check)"; \
	   echo "CHECK_LIBS := $$(pkg-config --libs check)"; \
	} >$@.tmp && mv $@.tmp $@

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2
CFLAGS ?= -O2 -g
DEBUG_DEFS = $(if $(SPANHEAP_DEBUG),-DSPANHEAP_DEBUG)
ALL_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE -fPIC -fvisibility=hidden \
	-DSPANHEAPD_VERSION='"$(VERSION)"' -I. -MMD -MP $(SAN) $(DEBUG_DEFS) \
	$(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)
# C++ only for the benchmarks' Boost.Interprocess side.
CXXFLAGS ?= -O2 -g
ALL_CXXFLAGS = -std=gnu++17 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC \
	-fvisibility=hidden -I. -MMD -MP $(SAN) $(CXXFLAGS)

SHM_SRCS := $(wildcard shm/*.c)
SHM_OBJS := $(SHM_SRCS:%.c=$(BUILD)/%.o)
SHM_LIB := $(BUILD)/libshm.a

# The wire protocol, the one definition the daemon, the library and the
# tools share.
PROTO_SRCS := $(wildcard proto/*.c)
PROTO_OBJS := $(PROTO_SRCS:%.c=$(BUILD)/%.o)
PROTO_LIB := $(BUILD)/libproto.a

# The daemon's objects but main, in a library its tests link.
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
DAEMON_LIB := $(BUILD)/libdaemon.a

# libspanclient: its own objects plus the shm pieces it needs, merged
# into one object whose hidden symbols are made local, so that neither
# the .so nor the .a exports anything but spanheap_*.
CLIENT_SRCS := $(wildcard libclient/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/proto/proto.o $(BUILD)/proto/magazine.o \
	$(BUILD)/shm/arena.o
CLIENT_SOVER := 0
CLIENT_SO := $(BUILD)/libspanclient.so
CLIENT_A := $(BUILD)/libspanclient.a
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
# A distribution's multiarch libdir: LIBDIR=/usr/lib/x86_64-linux-gnu.
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR := $(PREFIX)/include
MANDIR := $(PREFIX)/share/man
PKGCONFIGDIR := $(LIBDIR)/pkgconfig
# A system prefix installs the units, sysusers, tmpfiles and defaults
# where systemd looks (pkg-config systemd); any other prefix (a user's
# PREFIX=$$HOME/.local) keeps them under the prefix, so that an install
# as a user never writes outside it.  Each can be set on its own.
SYSTEM_PREFIX := $(filter /usr /usr/local,$(PREFIX))
pc_systemd = $(if $(SYSTEM_PREFIX),$(or $(shell PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=$(1) systemd 2>/dev/null),$(2)),$(PREFIX)$(2))
SYSCONFDIR ?= $(if $(SYSTEM_PREFIX),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(call pc_systemd,systemdsystemunitdir,/lib/systemd/system)
SYSUSERSDIR ?= $(call pc_systemd,sysusersdir,/usr/lib/sysusers.d)
TMPFILESDIR ?= $(call pc_systemd,tmpfilesdir,/usr/lib/tmpfiles.d)
# bash-completion's completionsdir, under PREFIX: bash-completion
# looks in $$XDG_DATA_DIRS, /usr/local/share and /usr/share included.
COMPLETIONSDIR ?= $(or $(shell pkg-config --define-variable=datadir=$(PREFIX)/share \
	--variable=completionsdir bash-completion 2>/dev/null),$(PREFIX)/share/bash-completion/completions)

MAN_PAGES := $(wildcard man/*.[0-9])

# Fuzz targets: tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME/.
# `make fuzz` builds them with clang and libFuzzer and runs each for
# FUZZ_SECONDS (FUZZ_TARGETS=fuzz_NAME for one); `make fuzz-ci` is CI's
# short run.  `make check` replays each corpus through the same code
# built with $(CC) (tests/fuzz/standalone.c), so a fixed crash stays
# fixed without clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
# CI's 20 minutes hold eight targets at 15 s each, beside the packages.
FUZZ_CI_SECONDS ?= 15
# An input over 120 s is a hang; the daemon's log goes to /dev/null.
FUZZ_RUN_FLAGS := -max_len=4096 -timeout=120 -close_fd_mask=2 \
	-print_final_stats=1
FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE \
	-DSPANHEAPD_VERSION='"$(VERSION)"' -I. \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HARNESS := tests/fuzz/harness.c tests/fuzz/harness.h
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
FUZZ_REPLAY := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/%)
FUZZ_REPLAY_OBJS := $(FUZZ_REPLAY:%=%.o) $(BUILD)/tests/fuzz/harness.o \
	$(BUILD)/tests/fuzz/standalone.o

BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
# What the benchmarks share: the clock, the raw round trip, the daemon.
BENCH_LIB_SRCS := bench/lib.c
BENCH_LIB_OBJS := $(BENCH_LIB_SRCS:%.c=$(BUILD)/%.o)

SPANCTL_SRCS := $(wildcard ctl/*.c)
SPANCTL_OBJS := $(SPANCTL_SRCS:%.c=$(BUILD)/%.o)
# spanctl's objects but main, in a library its tests link.
CTL_LIB := $(BUILD)/libctl.a

# ---- metrics: the Prometheus renderer spanctl and the daemon share ----
METRICS_SRCS := $(wildcard metrics/*.c)
METRICS_OBJS := $(METRICS_SRCS:%.c=$(BUILD)/%.o)
METRICS_LIB := $(BUILD)/libmetrics.a
$(METRICS_LIB): $(METRICS_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^
# The endpoint's suite: the real daemon, spanctl, spanhold, curl, promtool.
SCRIPT_SUITES_METRICS := metrics
$(BUILD)/tests/metrics.ok: tests/metrics/check-metrics.sh $(BUILD)/spanheapd \
		$(BUILD)/spanctl $(BUILD)/tests/system/spanhold
	$(RUN_SUITE) env BUILD=$(BUILD) SPANHEAPD=$(BUILD)/spanheapd \
		SPANCTL=$(BUILD)/spanctl bash $<
# ---- end metrics ----

# ---- evict: eviction through the client library, in process ----
# tests/daemon/test_objects_client drives the in-process daemon through
# libspanclient, on a socket of its own: the daemon's tests link it too.
$(BUILD)/tests/daemon/test_objects_client: $(CLIENT_A)
# ---- end evict ----

PROGS := $(BUILD)/spanheapd $(BUILD)/spanctl

.PHONY: all tests check check-run check-sanitize check-tsan check-debug \
	check-system check-valgrind analyze bench clean run fuzz fuzz-ci deps-fuzz \
	fuzz-seeds install uninstall

all: $(PROGS) $(CLIENT_SO) $(CLIENT_A)

# ---- compiling and linking ----

# Objects depend on the Makefile, so a change of flags rebuilds them.
$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c Makefile
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(SHM_LIB): $(SHM_OBJS)
$(PROTO_LIB): $(PROTO_OBJS)
$(DAEMON_LIB): $(DAEMON_OBJS)
$(CTL_LIB): $(filter-out $(BUILD)/ctl/main.o,$(SPANCTL_OBJS))
$(SHM_LIB) $(PROTO_LIB) $(DAEMON_LIB) $(CTL_LIB):
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(BUILD)/spanheapd: $(BUILD)/daemon/main.o $(DAEMON_LIB) $(METRICS_LIB) $(PROTO_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/spanctl: $(SPANCTL_OBJS) $(METRICS_LIB) $(CLIENT_A) $(SHM_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(JANSSON_LIBS) -lpthread

$(BUILD)/libclient/spanclient.o: $(CLIENT_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(LD) -r -o $@ $^
	$(Q)objcopy --localize-hidden $@

$(CLIENT_SO).$(CLIENT_SOVER): $(BUILD)/libclient/spanclient.o \
		libclient/libspanclient.map
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -shared -Wl,-soname,libspanclient.so.$(CLIENT_SOVER) \
		-Wl,--version-script=libclient/libspanclient.map \
		-Wl,--no-undefined -o $@ $< -lpthread

$(CLIENT_SO): $(CLIENT_SO).$(CLIENT_SOVER)
	$(Q)ln -sf $(<F) $@

$(CLIENT_A): $(BUILD)/libclient/spanclient.o
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_LIB_OBJS) $(CLIENT_A) $(PROTO_LIB) \
		$(SHM_LIB) | $(PROGS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ -lpthread

# A plain make bench checks no test packages first: this checks the
# benchmarks' own, for the one file that needs them.
$(BUILD)/bench/%.o: bench/%.cc Makefile
	$(call need,benchmark dependencies,$(BENCH_CMDS),,,$(BENCH_PKGS),$(BENCH_HDRS))
	@mkdir -p $(@D)
	$(call say,CXX,$@)
	$(Q)$(CXX) $(ALL_CXXFLAGS) -c -o $@ $<

# bench_fast holds the span path against Boost.Interprocess: C++ inside.
$(BUILD)/bench/bench_fast: $(BUILD)/bench/bench_fast.o $(BENCH_LIB_OBJS) \
		$(BUILD)/bench/boost_ipc.o $(CLIENT_A) $(PROTO_LIB) $(SHM_LIB) \
		| $(PROGS)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS_ALL) -o $@ $^ -lpthread

# bench_restart restarts the daemon under the service-manager stand-in.
$(BUILD)/bench/bench_restart: $(BUILD)/bench/bench_restart.o \
		$(BENCH_LIB_OBJS) $(BUILD)/tests/lib/svcmgr.o $(CLIENT_A) \
		$(PROTO_LIB) $(SHM_LIB) | $(PROGS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ -lpthread

# ---- tests ----

# Tests mirror the sources: tests/AREA/test_NAME.c is a program that
# links what it tests, the helpers of its area (every other .c file in
# tests/AREA) and the pieces of tests/lib it names; nothing else.
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/lib/*.c))
test_bins = $(filter $(BUILD)/tests/$(1)/%,$(TEST_BINS))
test_helpers = $(patsubst %.c,$(BUILD)/%.o,$(filter-out tests/$(1)/test_%,\
	$(wildcard tests/$(1)/*.c)))
TESTLIB := $(BUILD)/tests/lib/testlib.o
TESTLIB_DAEMON := $(BUILD)/tests/lib/daemon.o
TESTLIB_WIRE := $(BUILD)/tests/lib/wire.o
TESTLIB_PROM := $(BUILD)/tests/lib/prom.o
# The service-manager stand-in (fd store, socket activation).
TESTLIB_SVCMGR := $(BUILD)/tests/lib/svcmgr.o
LINK_TEST = $(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) \
	$(TEST_LDLIBS) $(CHECK_LIBS)

# The heap's tests link the heap and nothing else: shm/ stays pure.
$(call test_bins,shm): $(BUILD)/tests/shm/%: $(BUILD)/tests/shm/%.o \
		$(call test_helpers,shm) $(TESTLIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# The protocol's tests link the protocol and nothing else.
$(call test_bins,proto): $(BUILD)/tests/proto/%: $(BUILD)/tests/proto/%.o \
		$(call test_helpers,proto) $(TESTLIB) $(PROTO_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# The daemon's objects, in process; test_options runs the binary too.
$(call test_bins,daemon): TEST_LDLIBS = $(DAEMON_LIBS)
$(call test_bins,daemon): $(BUILD)/tests/daemon/%: $(BUILD)/tests/daemon/%.o \
		$(call test_helpers,daemon) $(TESTLIB) $(TESTLIB_DAEMON) \
		$(TESTLIB_WIRE) $(DAEMON_LIB) $(METRICS_LIB) $(PROTO_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# The client library as a program links it, against a fake daemon
# (which makes its arena and checks requests with shm's code).
$(call test_bins,libclient): TEST_LDLIBS = -lpthread
$(call test_bins,libclient): $(BUILD)/tests/libclient/%: \
		$(BUILD)/tests/libclient/%.o $(call test_helpers,libclient) \
		$(TESTLIB) $(CLIENT_A) $(PROTO_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# spanctl's objects but main.
$(call test_bins,ctl): TEST_LDLIBS = $(JANSSON_LIBS)
$(call test_bins,ctl): $(BUILD)/tests/ctl/%: $(BUILD)/tests/ctl/%.o \
		$(call test_helpers,ctl) $(TESTLIB) $(TESTLIB_PROM) $(CTL_LIB) \
		$(METRICS_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# The real daemon and spanctl, started as programs, through the client
# library or the raw protocol.
$(call test_bins,e2e): TEST_LDLIBS = $(JANSSON_LIBS) -lpthread
$(call test_bins,e2e): $(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o \
		$(call test_helpers,e2e) $(TESTLIB) $(TESTLIB_DAEMON) \
		$(TESTLIB_SVCMGR) \
		$(TESTLIB_WIRE) $(TESTLIB_PROM) $(CLIENT_A) $(PROTO_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(LINK_TEST)

# A fuzz target replayed over its corpus: no libFuzzer, no check.
# A static pattern: the generic test rule must never take these.
$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/harness.o $(BUILD)/tests/fuzz/standalone.o \
		$(DAEMON_LIB) $(METRICS_LIB) $(PROTO_LIB) $(SHM_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DAEMON_LIBS)

# The seeds of the objects' and the magazines' messages, and of the
# magazine region, come from a program, which `make fuzz-seeds` runs
# when they change; its outputs are committed.
FUZZ_SEEDS := $(BUILD)/tests/fuzz/seeds
$(FUZZ_SEEDS): $(BUILD)/tests/fuzz/seeds.o $(BUILD)/tests/fuzz/seeds_msgs.o \
		$(BUILD)/tests/fuzz/seeds_mag.o $(BUILD)/tests/fuzz/seeds_recover.o \
		$(PROTO_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

fuzz-seeds: $(FUZZ_SEEDS)
	$(FUZZ_SEEDS) tests/fuzz/corpus

# The benchmarks are built with the tests, so that CI sees them build.
tests: all $(TEST_BINS) $(FUZZ_REPLAY) $(FUZZ_SEEDS) $(BENCH_BINS)

# The Python package spanheap (python/): setup.py builds it into
# $(BUILD)/python, its temp files in $(BUILD)/python-build, never in the
# source tree.  Its pytest suite starts the real daemon.  Not in the
# sanitizer builds: Debian's python3 is not built with ASan or TSan, whose
# runtimes must come first in a process, so there the suite would test
# the interpreter's loading rather than the extension; the C library it
# wraps runs under them in every other suite.
TEST_PKGS += python3-pytest python3-numpy python3-dev python3-setuptools
TEST_CMDS += python3-config
TEST_PY += pytest numpy setuptools
PY_BUILD := $(abspath $(BUILD))/python
PY_STAMP := $(PY_BUILD)/spanheap/.built
PY_SUITE := $(if $(SAN),,python)
$(PY_STAMP): python/setup.py $(wildcard python/spanheap/*.[ch] \
		python/spanheap/*.py*) libclient/spanheap.h $(CLIENT_SO)
	$(call say,PY,$(PY_BUILD))
	$(Q)cd python && SPANHEAP_INCLUDE_DIR=$(CURDIR)/libclient \
		SPANHEAP_LIBRARY_DIR=$(abspath $(BUILD)) CC="$(CC)" \
		CFLAGS="-Wall -Werror $(SAN)" LDFLAGS="$(SAN)" \
		/usr/bin/python3 setup.py -q build \
		--build-base $(PY_BUILD)-build --build-lib $(PY_BUILD) \
		--build-temp $(PY_BUILD)-build/temp $(if $(filter 1,$(V)),,>/dev/null)
	$(Q)touch $@
python: $(PY_STAMP)
tests: $(if $(PY_SUITE),$(PY_STAMP))
$(BUILD)/tests/python.ok: $(PY_STAMP) $(wildcard python/tests/*.py) $(PROGS)
	$(Q)mkdir -p $(@D)
	$(RUN_SUITE) env SPANHEAP_BUILD=$(abspath $(BUILD)) \
		LD_LIBRARY_PATH=$(abspath $(BUILD)) /usr/bin/python3 -m pytest \
		-q -p no:cacheprovider python/tests
.PHONY: python bench-python
# make bench: 1 MiB allocate + numpy fill + free against SharedMemory.
bench: bench-python
bench-python: $(PY_STAMP) $(PROGS)
	$(Q)LD_LIBRARY_PATH=$(abspath $(BUILD)) /usr/bin/python3 \
		python/bench/bench_buffer.py $(abspath $(BUILD))

# Every suite has a stamp, $(BUILD)/tests/NAME.ok, that running it
# writes (its output goes to NAME.log beside it), and a target
# check-NAME that runs it again: the test programs tests/AREA/test_*,
# the fuzz corpora replayed, and the scripts that check the units, the
# man pages and an install.  make check runs them all, -j2 two at a
# time: each works in temp dirs of its own.
SCRIPT_SUITES := units man install graph completion $(PY_SUITE) \
	$(SCRIPT_SUITES_METRICS)
# The real daemon's suites take longest: they start first.
SUITES := $(filter-out $(SKIP_SUITES),$(patsubst $(BUILD)/tests/%,%,\
	$(call test_bins,e2e) $(filter-out $(call test_bins,e2e),$(TEST_BINS)) \
	$(FUZZ_REPLAY)) $(SCRIPT_SUITES))
SUITE_STAMPS := $(SUITES:%=$(BUILD)/tests/%.ok)
RUN_SUITE = $(Q)SPANHEAPD=$(BUILD)/spanheapd SPANCTL=$(BUILD)/spanctl \
	SUITE_KEEP_GOING=$(SUITE_KEEP_GOING) \
	sh tests/lib/suite.sh run $@ $(patsubst $(BUILD)/tests/%.ok,%,$@)

# check's default of 4 s a test is short on this VM under sanitizers.
export CK_DEFAULT_TIMEOUT ?= 60

# The daemon and spanctl are there for every suite that starts them.
$(BUILD)/tests/%.ok: $(BUILD)/tests/% | $(PROGS)
	$(RUN_SUITE) $<

$(BUILD)/tests/fuzz/fuzz_%.ok: $(BUILD)/tests/fuzz/fuzz_%
	$(RUN_SUITE) $< tests/fuzz/corpus/$*

$(BUILD)/tests/units.ok: tests/systemd/check-units.sh $(PROGS) $(MAN_PAGES)
	$(RUN_SUITE) env BUILD=$(BUILD) UNIT_SBINDIR=$(UNIT_SBINDIR) bash $<

$(BUILD)/tests/man.ok: tests/man/check-man.sh $(MAN_PAGES)
	$(RUN_SUITE) bash $<

# spanctl's bash completion, against a real daemon for object names.
$(BUILD)/tests/completion.ok: tests/completion/check-completion.sh \
		ctl/completion/spanctl $(PROGS) $(CLIENT_A)
	@mkdir -p $(@D)
	$(RUN_SUITE) env BUILD=$(BUILD) SAN="$(SAN)" bash $<

# daemon/ is a one-way graph: its includes and its objects' symbols.
$(BUILD)/tests/graph.ok: tests/daemon/check-graph.sh $(wildcard daemon/*.[ch]) \
		$(DAEMON_OBJS) $(BUILD)/daemon/main.o
	$(RUN_SUITE) env BUILD=$(BUILD) bash $<

# make install into a staging tree, build a program with pkg-config
# against it, run it, make uninstall.  It runs make itself.
$(BUILD)/tests/install.ok: tests/install/check-install.sh $(PROGS) \
		$(CLIENT_SO) $(CLIENT_A)
	+$(RUN_SUITE) env BUILD=$(BUILD) SAN="$(SAN)" bash $<

.PHONY: $(SUITES:%=check-%)
$(SUITES:%=check-%): check-%:
	@rm -f $(BUILD)/tests/$*.ok
	+@$(MAKE) --no-print-directory $(BUILD)/tests/$*.ok

# Every suite, even after one fails, then the summary line.  A suite's
# lines come out together, whatever runs beside it.
check:
	@rm -f $(SUITE_STAMPS) $(SUITE_STAMPS:.ok=.fail)
	+@$(MAKE) --no-print-directory --output-sync=target -k \
		SUITE_KEEP_GOING=1 check-run; \
	rc=$$?; sh tests/lib/suite.sh summary $(BUILD)/tests $(SUITES) || rc=1; \
	exit $$rc

check-run: tests $(SUITE_STAMPS)

# The unit in the tree names the default prefix.  It and the .pc file are
# written at install time for the PREFIX of the install, never built
# ahead: a file built for one prefix cannot end up in another.
UNIT_SBINDIR := /usr/local/sbin

# What make install puts where, as MODE:SOURCE:DESTINATION: one list for
# install and uninstall.  The unit and the .pc file are written for the
# install's own PREFIX; the library's link and the defaults file follow.
INSTALL_LIST := \
	0755:$(BUILD)/spanheapd:$(SBINDIR)/spanheapd \
	0755:$(BUILD)/spanctl:$(BINDIR)/spanctl \
	0755:$(CLIENT_SO).$(CLIENT_SOVER):$(LIBDIR)/libspanclient.so.$(CLIENT_SOVER) \
	0644:$(CLIENT_A):$(LIBDIR)/libspanclient.a \
	0644:libclient/spanheap.h:$(INCLUDEDIR)/spanheap.h \
	0644:systemd/spanheapd.socket:$(SYSTEMDUNITDIR)/spanheapd.socket \
	0644:systemd/spanheapd.sysusers:$(SYSUSERSDIR)/spanheapd.conf \
	0644:systemd/spanheapd.tmpfiles:$(TMPFILESDIR)/spanheapd.conf \
	0644:systemd/metrics.conf.example:$(PREFIX)/share/doc/spanheapd/examples/metrics.conf \
	0644:docs/pressure.md:$(PREFIX)/share/doc/spanheapd/pressure.md \
	0644:ctl/completion/spanctl:$(COMPLETIONSDIR)/spanctl \
	$(foreach p,$(MAN_PAGES),0644:$(p):$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
INSTALL_MADE := $(SYSTEMDUNITDIR)/spanheapd.service \
	$(PKGCONFIGDIR)/libspanclient.pc $(LIBDIR)/libspanclient.so

install: $(PROGS) $(CLIENT_SO) $(CLIENT_A)
	@set -e; for e in $(INSTALL_LIST); do \
		m=$${e%%:*}; r=$${e#*:}; \
		install -D -m $$m "$${r%%:*}" "$(DESTDIR)$${r#*:}"; \
	done
	@install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PKGCONFIGDIR)
	sed -e 's|^ExecStart=$(UNIT_SBINDIR)/|ExecStart=$(SBINDIR)/|' \
		systemd/spanheapd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/spanheapd.service
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@VERSION@|$(VERSION)|g' \
		libclient/libspanclient.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libspanclient.pc
	ln -sf libspanclient.so.$(CLIENT_SOVER) $(DESTDIR)$(LIBDIR)/libspanclient.so
	@[ -e $(DESTDIR)$(SYSCONFDIR)/default/spanheapd ] || \
		install -D -m 0644 systemd/spanheapd.default $(DESTDIR)$(SYSCONFDIR)/default/spanheapd
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi
	@echo "installed under $(DESTDIR)$(PREFIX); units in $(DESTDIR)$(SYSTEMDUNITDIR)"

uninstall:
	@for e in $(INSTALL_LIST); do \
		r=$${e#*:}; rm -f "$(DESTDIR)$${r#*:}"; \
	done
	rm -f $(addprefix $(DESTDIR),$(INSTALL_MADE))
	@if cmp -s systemd/spanheapd.default $(DESTDIR)$(SYSCONFDIR)/default/spanheapd; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/default/spanheapd; fi

# Debian packages (debian/), built from a copy of the tree's files in
# $(BUILD)/deb/src, so that the tree and its parent get nothing: the
# .debs, .changes and .buildinfo land in $(BUILD)/deb/.  make lintian
# checks them: no error, no warning.
DEB_DIR := $(BUILD)/deb
DEB_PKGS := dpkg-dev debhelper dh-python python3-dev python3-setuptools \
	lintian bash-completion
DEB_CMDS := dpkg-buildpackage dh dh_installsysusers dh_python3 lintian
.PHONY: deb lintian
deb: deps
	$(call need,packaging tools,$(DEB_CMDS),bash-completion,,$(DEB_PKGS))
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	git ls-files -co --exclude-standard -z | \
		xargs -0 cp -P --parents -t $(DEB_DIR)/src
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD \
		-u SAN -u SPANHEAP_DEBUG -u CFLAGS -u LDFLAGS \
		dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/src

lintian:
	lintian --fail-on error,warning --info $(DEB_DIR)/*.changes

# check-system's client that lives through restarts: the public library
# only, built with the tests so that make check compiles it.
SPANHOLD := $(BUILD)/tests/system/spanhold
$(SPANHOLD): $(BUILD)/tests/system/spanhold.o $(CLIENT_A)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(JANSSON_LIBS) -lpthread
tests: $(SPANHOLD)

# A real systemd as PID 1 in private namespaces drives the installed
# units: see tests/system/check-system.sh.  Needs root.
# Its second container installs the packages of make deb.
check-system: all $(SPANHOLD) deb
	BUILD=$(BUILD) bash tests/system/check-system.sh

# The daemon's and shm's sources go into the target, built with clang.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_HARNESS) \
		$(DAEMON_SRCS) $(METRICS_SRCS) $(PROTO_SRCS) $(SHM_SRCS)
	@mkdir -p $(@D)
	$(call say,CLANG,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter %.c,$(FUZZ_HARNESS)) \
		$(DAEMON_SRCS) $(METRICS_SRCS) $(PROTO_SRCS) $(SHM_SRCS) $(DAEMON_LIBS)

# New inputs go to $(BUILD)/fuzz/corpus/NAME; copy the ones worth
# keeping (and every crash, once fixed) to tests/fuzz/corpus/NAME.
# clang with libFuzzer's runtime: Debian's clang and libclang-rt-14-dev.
FUZZ_PKGS := clang libclang-rt-14-dev
define need_fuzz
@echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
	| $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null || \
if [ "$$(id -u)" = 0 ]; then \
	echo "installing fuzz dependencies: $(FUZZ_PKGS)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq $(FUZZ_PKGS) >/dev/null; \
else \
	echo "fuzz dependencies missing: $(FUZZ_CC) with libFuzzer" >&2; \
	echo "as root: apt-get install $(FUZZ_PKGS)" >&2; \
	exit 1; \
fi
endef

deps-fuzz: deps
	$(need_fuzz)

$(BUILD)/config-fuzz.mk: Makefile $(BUILD)/config.mk
	$(need_fuzz)
	@mkdir -p $(@D) && echo "# $(FUZZ_CC) has libFuzzer" >$@

# Every target runs its time even when one fails; a crash is written to
# $(BUILD)/fuzz/NAME-crash-* (or -timeout-, -leak-, -oom-).
fuzz: $(FUZZ_BINS)
	@failed=; for t in $(FUZZ_TARGETS); do \
		n=$${t#fuzz_}; mkdir -p $(BUILD)/fuzz/corpus/$$n; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
			$(FUZZ_RUN_FLAGS) -artifact_prefix=$(BUILD)/fuzz/$$n- \
			$(BUILD)/fuzz/corpus/$$n tests/fuzz/corpus/$$n || \
			failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then \
		echo "FAILED:$$failed; the inputs are in $(BUILD)/fuzz/"; \
		exit 1; \
	fi

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

check-sanitize:
	+@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		check

# Memcheck over the suites that run in one process (no daemon to start,
# no 64 GiB mapping, no deliberate aborts): one case at a time, unforked.
# The magazine format's stress suite (proto/test_magazine_stress) spins
# two threads, which memcheck runs one at a time: it is left to TSan, as
# is the daemon magazine's race case.
VALGRIND_RUNS := proto/test_proto proto/test_proto_request \
	proto/test_proto_reply proto/test_magazine:layout \
	proto/test_magazine:header proto/test_magazine:ring \
	proto/test_magazine:checked shm/test_bitmap shm/test_units shm/test_scav \
	shm/test_scav_pass shm/test_heap:alloc shm/test_heap:free \
	shm/test_heap:format shm/test_heap_mag shm/test_release:take \
	shm/test_freeidx shm/test_journal:caller shm/test_journal:recover \
	shm/test_recover:steps \
	shm/test_owner:records shm/test_siphash shm/test_objname \
	shm/test_object:create shm/test_object:get shm/test_object:release \
	shm/test_object:delete shm/test_object:owner_gone \
	shm/test_object:walk ctl/test_render daemon/test_client \
	daemon/test_dispatch_flow daemon/test_stats daemon/test_objects \
	daemon/test_session \
	daemon/test_magazine:refill daemon/test_magazine:surplus \
	daemon/test_magazine:tick daemon/test_magazine:revoke \
	daemon/test_magazine:free daemon/test_magazine_bad \
	daemon/test_magazine_client daemon/test_magazine_resume \
	libclient/test_conn libclient/test_control libclient/test_span \
	libclient/test_object libclient/test_object_list libclient/test_magazine
check-valgrind: tests
	@failed=; for r in $(VALGRIND_RUNS); do \
		t=$${r%%:*}; c=$${r#$$t}; c=$${c#:}; \
		env CK_FORK=no $${c:+CK_RUN_CASE=$$c} valgrind -q --error-exitcode=9 \
			--leak-check=full --errors-for-leak-kinds=definite \
			$(BUILD)/tests/$$t || failed="$$failed $$r"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

# ---- pressure: the PSI watch's one-process suites under memcheck ----
# (its other cases make cgroups and namespaces, which want a fork each)
VALGRIND_RUNS += daemon/test_psi daemon/test_pressure:inject
# ---- end pressure ----

# Every test over a heap that runs heap_check() after each call that
# changes it (HEAP_DEBUG_CHECK() in shm/heap_internal.h).
check-debug:
	+@$(MAKE) --no-print-directory BUILD=$(BUILD)/debug SPANHEAP_DEBUG=1 \
		check

# gcc's static analyzer over every C file of the tree: the programs, the
# library, the tests, the fuzz targets and the benchmarks.  -Werror
# makes any finding fail; a file is looked at again when it or what it
# includes changes.
ANALYZE_CC ?= gcc
ANALYZE_SRCS := $(SHM_SRCS) $(PROTO_SRCS) $(wildcard daemon/*.c) $(CLIENT_SRCS) \
	$(SPANCTL_SRCS) $(METRICS_SRCS) $(BENCH_SRCS) $(BENCH_LIB_SRCS) $(wildcard tests/*/*.c)
ANALYZE_STAMPS := $(ANALYZE_SRCS:%.c=$(BUILD)/analyze/%.ok)

analyze: $(ANALYZE_STAMPS)
	@echo "analyze: gcc -fanalyzer finds nothing in $(words $(ANALYZE_SRCS)) files"

# The program built against an install includes <spanheap.h>.
$(BUILD)/analyze/tests/install/%.ok: ANALYZE_FLAGS = -Ilibclient
# gcc 12's analyzer loses a reply queued through STAILQ_INSERT_TAIL()'s
# pointer to the last link (a store through a pointer it cannot name)
# and calls the queued reply a leak; valgrind and ASan check that file's
# memory in make check-valgrind and check-sanitize instead.
$(BUILD)/analyze/daemon/client.ok: ANALYZE_FLAGS = -Wno-analyzer-malloc-leak
$(BUILD)/analyze/%.ok: %.c Makefile
	@mkdir -p $(@D)
	$(call say,ANALYZE,$<)
	$(Q)$(ANALYZE_CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(ANALYZE_FLAGS) \
		-fanalyzer -MF $(@:.ok=.d) -MT $@ -c -o /dev/null $<
	@touch $@

# The daemon has a scavenger thread and the library is used from many.
# ThreadSanitizer makes the daemon several times slower: a suite that
# starts it many times gets more than check's 60 s.
# Suites of code that runs on one thread (the heap, the protocol's
# checks but its two-thread stress, spanctl, the fuzz replays and the
# scripts) hold no race to find: TSan skips them, to keep CI in time.
TSAN_SKIP := $(patsubst $(BUILD)/tests/%,%,$(call test_bins,shm) \
	$(filter-out %/test_magazine_stress,$(call test_bins,proto)) \
	$(call test_bins,ctl) $(FUZZ_REPLAY)) units man graph install completion
check-tsan:
	+@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan SAN="-fsanitize=thread" \
		SKIP_SUITES="$(TSAN_SKIP)" \
		CK_DEFAULT_TIMEOUT=$(if $(filter-out 60,$(CK_DEFAULT_TIMEOUT)),$(CK_DEFAULT_TIMEOUT),180) check

bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do $$b || exit 1; done

# A daemon for trying things out: no root, no system paths, and settings
# that show something within a minute (spans free for 20 s are released,
# the scavenger ticks every 10 s and prints the seed's trace lines).
# Talk to it with SPANHEAP_SOCKET=run/spanheapd.sock build/spanctl stats;
# change the settings with RUN_ARGS="--scavenge-after=5min ...".
RUN_DIR := $(CURDIR)/run
RUN_ARGS ?= --trace --scavenge-after=20s --gc-after=20s --arena-size=4G
run: $(PROGS) $(CLIENT_SO)
	@mkdir -p $(RUN_DIR)
	@echo "spanheapd on $(RUN_DIR)/spanheapd.sock with $(RUN_ARGS) (RUN_ARGS=... to change)"
	@echo "in another terminal: export SPANHEAP_SOCKET=$(RUN_DIR)/spanheapd.sock; build/spanctl watch"
	$(BUILD)/spanheapd --socket=$(RUN_DIR)/spanheapd.sock \
		--stats-file=$(RUN_DIR)/memstats.json $(RUN_ARGS)

clean:
	rm -rf $(BUILD) $(RUN_DIR)

.SECONDARY:

# What each object includes, as the compiler wrote it down (-MMD).
OBJS := $(SHM_OBJS) $(PROTO_OBJS) $(DAEMON_OBJS) $(BUILD)/daemon/main.o \
	$(CLIENT_SRCS:%.c=$(BUILD)/%.o) $(SPANCTL_OBJS) $(BENCH_BINS:%=%.o) \
	$(BENCH_LIB_OBJS) $(BUILD)/bench/boost_ipc.o \
	$(TEST_BINS:%=%.o) $(TEST_LIB_OBJS) $(FUZZ_REPLAY_OBJS) \
	$(foreach a,$(sort $(dir $(TEST_SRCS))),$(call test_helpers,$(a:tests/%/=%)))
-include $(OBJS:.o=.d) $(ANALYZE_STAMPS:.ok=.d)
