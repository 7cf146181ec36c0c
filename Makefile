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
	python3-jsonschema mandoc man-db systemd valgrind
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
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
LIBDIR := $(PREFIX)/lib
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

MAN_PAGES := $(wildcard man/*.[0-9])

TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/lib/*.c))
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)

# Fuzz targets: tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME/.
# `make fuzz` builds them with clang and libFuzzer and runs each for
# FUZZ_SECONDS (FUZZ_TARGETS=fuzz_NAME for one); `make fuzz-ci` is CI's
# short run.  `make check` replays each corpus through the same code
# built with $(CC) (tests/fuzz/standalone.c), so a fixed crash stays
# fixed without clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 60
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

BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)

SPANCTL_SRCS := $(wildcard ctl/*.c)
SPANCTL_OBJS := $(SPANCTL_SRCS:%.c=$(BUILD)/%.o)
# spanctl's objects but main, in a library its tests link.
CTL_LIB := $(BUILD)/libctl.a

PROGS := $(BUILD)/spanheapd $(BUILD)/spanctl

# check's default of 4 s a test is short on this VM under sanitizers.
export CK_DEFAULT_TIMEOUT ?= 60

.PHONY: all deps check check-sanitize check-tsan check-units check-man check-system \
	check-install check-valgrind \
	bench clean run fuzz fuzz-ci deps-fuzz \
	install uninstall

all: $(PROGS) $(CLIENT_SO) $(CLIENT_A) $(TEST_BINS) \
	$(FUZZ_REPLAY) $(BENCH_BINS)

deps:
	@missing=; \
	for c in pkg-config mandoc man systemd-analyze valgrind; do \
		command -v $$c >/dev/null 2>&1 || missing=yes; \
	done; \
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

$(CTL_LIB): $(filter-out $(BUILD)/ctl/main.o,$(SPANCTL_OBJS))
	@rm -f $@
	ar rcs $@ $^

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

# The unit in the tree names the default prefix.  It and the .pc file are
# written at install time for the PREFIX of the install, never built
# ahead: a file built for one prefix cannot end up in another.
UNIT_SBINDIR := /usr/local/sbin

# Tests link everything: the client library statically, the daemon's
# objects for unit tests, and start build/spanheapd for the rest.
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB_OBJS) $(CTL_LIB) $(CLIENT_A) \
		$(DAEMON_LIB) $(SHM_LIB) | $(PROGS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) $(CHECK_LIBS) \
		$(DAEMON_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(CLIENT_A) $(SHM_LIB) | $(PROGS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lpthread

check: all check-units check-man check-install
	@export SPANHEAPD=$(BUILD)/spanheapd SPANCTL=$(BUILD)/spanctl; failed=; \
	for t in $(TEST_BINS); do \
		$$t || failed="$$failed $$t"; \
	done; \
	for f in $(FUZZ_TARGETS); do \
		$(BUILD)/tests/fuzz/$$f tests/fuzz/corpus/$${f#fuzz_} \
			2>$(BUILD)/tests/fuzz/$$f.log || \
			{ tail -n 40 $(BUILD)/tests/fuzz/$$f.log; \
			  grep ': replaying ' $(BUILD)/tests/fuzz/$$f.log | tail -n 1; \
			  failed="$$failed $(BUILD)/tests/fuzz/$$f"; }; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

# systemd-analyze verify exits 0 on unknown keys and only warns: any
# output at all fails.  It checks that ExecStart= exists and that the
# Documentation= pages open, so it gets the built daemon and man pages.
check-units: $(PROGS)
	@rm -rf $(BUILD)/verify && mkdir -p $(BUILD)/verify/man
	sed -e 's|^ExecStart=$(UNIT_SBINDIR)/|ExecStart=$(CURDIR)/$(BUILD)/|' systemd/spanheapd.service \
		> $(BUILD)/verify/spanheapd.service
	cp systemd/spanheapd.socket $(BUILD)/verify/
	for p in $(MAN_PAGES); do \
		s=$${p##*.}; mkdir -p $(BUILD)/verify/man/man$$s; \
		cp $$p $(BUILD)/verify/man/man$$s/; \
	done
	@out=$$(cd $(BUILD)/verify && MANPATH=$(CURDIR)/$(BUILD)/verify/man \
		systemd-analyze verify spanheapd.service spanheapd.socket 2>&1); \
	if [ -n "$$out" ]; then echo "$$out"; echo "check-units: FAILED"; exit 1; fi
	@echo "check-units: systemd-analyze verify is silent on both units"
	@systemd-analyze security --offline=yes $(BUILD)/verify/spanheapd.service \
		| tail -1 | tee $(BUILD)/verify/security.txt
	@awk '/Overall exposure level/ { if ($$(NF-2) + 0 > 1.0) { \
		print "check-units: exposure above 1.0"; exit 1 } }' \
		$(BUILD)/verify/security.txt

# make install into a staging tree, build a program with pkg-config
# against it, run it, make uninstall.
check-install: all
	BUILD=$(BUILD) SAN="$(SAN)" bash tests/install/check-install.sh

check-man:
	@out=$$(mandoc -Tlint -W warning $(MAN_PAGES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out"; echo "check-man: FAILED"; exit 1; fi
	@echo "check-man: mandoc -Tlint is silent on $(words $(MAN_PAGES)) pages"

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
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
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

# A real systemd as PID 1 in private namespaces drives the installed
# units: see tests/system/check-system.sh.  Needs root.
check-system: all
	BUILD=$(BUILD) bash tests/system/check-system.sh

# A fuzz target replayed over its corpus: no libFuzzer, no check.
# A static pattern: the generic test rule must never take these.
$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/harness.o $(BUILD)/tests/fuzz/standalone.o \
		$(DAEMON_LIB) $(SHM_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DAEMON_LIBS)

# The daemon's and shm's sources go into the target, built with clang.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_HARNESS) \
		$(DAEMON_SRCS) $(SHM_SRCS) | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter %.c,$(FUZZ_HARNESS)) \
		$(DAEMON_SRCS) $(SHM_SRCS) $(DAEMON_LIBS)

# New inputs go to $(BUILD)/fuzz/corpus/NAME; copy the ones worth
# keeping (and every crash, once fixed) to tests/fuzz/corpus/NAME.
# clang with libFuzzer's runtime: Debian's clang and libclang-rt-14-dev.
deps-fuzz: deps
	@echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
		| $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; \
	else \
		echo "make fuzz needs: sudo apt-get install clang libclang-rt-14-dev"; \
		exit 1; \
	fi

$(FUZZ_BINS): | deps-fuzz

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
	$(MAKE) BUILD=$(BUILD)/sanitize \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		check

# Memcheck over the suites that run in one process (no daemon to start,
# no 64 GiB mapping, no deliberate aborts): one case at a time, unforked.
VALGRIND_RUNS := shm/test_bitmap shm/test_units shm/test_scav \
	shm/test_scav_pass shm/test_heap:alloc shm/test_heap:free \
	shm/test_heap:scavenge ctl/test_render daemon/test_client \
	daemon/test_dispatch_flow daemon/test_stats:cache \
	libclient/test_client libclient/test_client_span \
	libclient/test_client_clients
check-valgrind: all
	@failed=; for r in $(VALGRIND_RUNS); do \
		t=$${r%%:*}; c=$${r#$$t}; c=$${c#:}; \
		env CK_FORK=no $${c:+CK_RUN_CASE=$$c} valgrind -q --error-exitcode=9 \
			--leak-check=full --errors-for-leak-kinds=definite \
			$(BUILD)/tests/$$t || failed="$$failed $$r"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

# The daemon has a scavenger thread and the library is used from many.
check-tsan:
	$(MAKE) BUILD=$(BUILD)/tsan SAN="-fsanitize=thread" check

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

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
