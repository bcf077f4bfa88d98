# chatd — plain GNU make. `make help` lists the targets.
#
# Objects go to build/ (build/san/ with SANITIZE=1). The binaries of a normal
# build are also placed where people run them: ./chatd, ./chat, tools/*.
# When pkg-config cannot find SQLite, libsodium or Check, tools/install-deps
# installs them first (apt-get; sudo when not root).

VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc

ifeq ($(SANITIZE),1)
BUILD    := build/san
OPT      := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
else
BUILD    := build
OPT      := -O2
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef \
            -Wcast-align -Wwrite-strings -Wvla
CFLAGS   ?=
LDFLAGS  ?=
ALL_CFLAGS = -std=c11 -g $(OPT) $(WARN) -D_GNU_SOURCE \
             -DCHATD_VERSION='"$(VERSION)"' -Iinclude -Itests/harness $(PKG_CFLAGS) \
             $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(OPT) $(LDFLAGS)

# ---- dependencies --------------------------------------------------------
NODEPS_GOALS := clean help
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
PKGS := sqlite3 libsodium check
ifneq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes),yes)
$(info chatd: SQLite, libsodium or Check not found; running tools/install-deps)
ifneq ($(shell sh tools/install-deps >&2; echo $$?),0)
$(error tools/install-deps failed; see its message above)
endif
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
LIBS_SERVER := $(shell pkg-config --libs sqlite3 libsodium) -lpthread
LIBS_CHECK  := $(shell pkg-config --libs check)
endif

# ---- sources -------------------------------------------------------------
# common: linked into every program. server: chatd's modules. client: ./chat.
COMMON_SRCS := src/buf.c src/wire.c src/net.c src/timer.c src/config.c \
               src/log.c
SERVER_SRCS := $(filter-out $(COMMON_SRCS) src/chatd.c,$(wildcard src/*.c))
CLIENT_SRCS := $(filter-out src/client/main.c,$(wildcard src/client/*.c))
# Each tools/NAME.c is a program, but for chatbench's parts: tools/chatbench
# is built from tools/chatbench.c and tools/chatbench_*.c (chatbench.h).
CHATBENCH_SRCS := tools/chatbench.c $(wildcard tools/chatbench_*.c)
TOOLS       := $(patsubst %.c,%,$(filter-out $(CHATBENCH_SRCS),\
                 $(wildcard tools/*.c)) tools/chatbench.c)
UNIT_TESTS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/check_*.c))
CLUSTER_TESTS := $(patsubst tests/cluster/%.c,$(BUILD)/tests/cluster/%,\
                   $(wildcard tests/cluster/check_*.c))
HARNESS_SRCS := $(wildcard tests/harness/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_LIB  := $(BUILD)/libcommon.a
SERVER_LIB  := $(BUILD)/libserver.a
CLIENT_LIB  := $(BUILD)/libclient.a
HARNESS_LIB := $(BUILD)/libharness.a

BINS := $(BUILD)/chatd $(BUILD)/chat $(patsubst tools/%,$(BUILD)/tools/%,$(TOOLS))

.PHONY: all check test unit cluster run clean install uninstall help doc doc-check \
        valgrind
# Keep objects that pattern chains would otherwise delete as intermediates.
.SECONDARY:
.DEFAULT_GOAL := all

ifeq ($(SANITIZE),1)
all: $(BINS)
else
all: $(BINS) chatd chat $(TOOLS)
chatd chat: %: $(BUILD)/%
	cp $< $@
$(TOOLS): tools/%: $(BUILD)/tools/%
	cp $< $@
endif

# Unit tests may include the private headers of the modules they test.
$(BUILD)/obj/tests/%.o: ALL_CFLAGS += -Isrc
# chatctl speaks the internal port: it needs auth.h and oplink.h.
$(BUILD)/obj/tools/chatctl.o: ALL_CFLAGS += -Isrc

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRCS))
$(SERVER_LIB): $(call obj,$(SERVER_SRCS))
$(CLIENT_LIB): $(call obj,$(CLIENT_SRCS))
$(HARNESS_LIB): $(call obj,$(HARNESS_SRCS))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/chatd: $(call obj,src/chatd.c) $(SERVER_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER)
$(BUILD)/chat: $(call obj,src/client/main.c) $(CLIENT_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER)
$(BUILD)/tools/%: $(call obj,tools/%.c) $(CLIENT_LIB) $(SERVER_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER)
$(BUILD)/tools/chatbench: $(call obj,$(CHATBENCH_SRCS)) $(CLIENT_LIB) $(SERVER_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER)
$(BUILD)/tests/%: $(call obj,tests/%.c) $(HARNESS_LIB) $(SERVER_LIB) $(CLIENT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER) $(LIBS_CHECK)

# ---- tests ---------------------------------------------------------------
# Unit tests first, then the protocol document check, then the tests that
# run real replicas on loopback. CHATD_BIN tells those where the binaries are.
check test: all $(UNIT_TESTS) $(CLUSTER_TESTS) doc-check fuzz-regress
	@BUILD=$(BUILD) bash tests/run-all $(UNIT_TESTS) $(CLUSTER_TESTS)

unit: $(UNIT_TESTS)
	@BUILD=$(BUILD) bash tests/run-all $(UNIT_TESTS)

cluster: all $(CLUSTER_TESTS)
	@BUILD=$(BUILD) bash tests/run-all $(CLUSTER_TESTS)

# wire/PROTOCOL.md's generated tables must match wire/wire.def.
doc-check: $(BUILD)/tools/wiredoc
	$(BUILD)/tools/wiredoc --check wire/PROTOCOL.md

# Regenerate the tables in wire/PROTOCOL.md after editing wire/wire.def.
doc: $(BUILD)/tools/wiredoc
	$(BUILD)/tools/wiredoc --update wire/PROTOCOL.md

# wire/chat.lua, the Wireshark dissector, is generated from wire/wire.def
# (defaults: the ports of replicas.conf) by tools/wirelua and committed.
# The build rewrites it; lua-check fails when the committed (staged) copy
# differs from what the build makes, i.e. when someone forgot to commit it.
.PHONY: lua-check
all: wire/chat.lua
check test: lua-check
$(BUILD)/obj/tools/wirelua.o: ALL_CFLAGS += -Isrc
wire/chat.lua: $(BUILD)/tools/wirelua tools/wirelua.lua replicas.conf wire/wire.def
	$(BUILD)/tools/wirelua tools/wirelua.lua replicas.conf > $(BUILD)/chat.lua.tmp
	mv $(BUILD)/chat.lua.tmp $@
lua-check: wire/chat.lua
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git show :wire/chat.lua; else cat wire/chat.lua; fi | \
	    cmp -s - wire/chat.lua || { echo "wire/chat.lua as committed is" \
	    "stale: the build regenerated it; review and commit it"; exit 1; }

# Three replicas under valgrind memcheck through a chat scenario: zero
# errors and nothing definitely lost, or it fails (slow: a few minutes).
valgrind: chatd chat
	bash tools/valgrind-check

# Start the replicas of replicas.conf in the foreground; Ctrl-C stops all.
run: all
	@bash tools/run-cluster replicas.conf

# ---- install ---------------------------------------------------------------
# make install PREFIX=/usr/local DESTDIR=/tmp/stage puts in place:
#   sbin/  chatd (and chatctl, once tools/chatctl.c exists)
#   bin/   chat, wirefuzz, chatbench
#   share/man/man{1,5,8}/  every man/*.[158], by its section
#   lib/systemd/system/chatd@.service  with ExecStart at $(SBINDIR)/chatd
#   share/doc/chatd/  replicas.conf.example, README.md
# uninstall removes exactly those files, and share/doc/chatd once empty.
# install-check (part of check) installs into a temporary DESTDIR,
# checks the tree, and uninstalls again: tests/install-check.
BINDIR   := $(PREFIX)/bin
SBINDIR  := $(PREFIX)/sbin
MANDIR   := $(PREFIX)/share/man
DOCDIR   := $(PREFIX)/share/doc/chatd
UNITDIR  := $(PREFIX)/lib/systemd/system
INST_SBIN := chatd $(if $(wildcard tools/chatctl.c),chatctl)
INST_BIN  := chat wirefuzz chatbench
INST_MAN  := $(wildcard man/*.[158])
INST_DOC  := dist/replicas.conf.example README.md
# Where a program is built: chatd and chat at the top, tools under tools/.
built     = $(if $(filter chatd chat,$(1)),$(BUILD)/$(1),$(BUILD)/tools/$(1))
INSTALLED := $(addprefix $(DESTDIR)$(SBINDIR)/,$(INST_SBIN)) \
             $(addprefix $(DESTDIR)$(BINDIR)/,$(INST_BIN)) \
             $(foreach m,$(INST_MAN),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
             $(DESTDIR)$(UNITDIR)/chatd@.service \
             $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INST_DOC)))

.PHONY: install-check

install: $(foreach p,$(INST_SBIN) $(INST_BIN),$(call built,$(p)))
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DOCDIR) $(sort $(foreach m,$(INST_MAN),\
	        $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))))
	install -m 755 $(foreach p,$(INST_SBIN),$(call built,$(p))) $(DESTDIR)$(SBINDIR)/
	install -m 755 $(foreach p,$(INST_BIN),$(call built,$(p))) $(DESTDIR)$(BINDIR)/
	$(foreach m,$(INST_MAN),install -m 644 $(m) \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/ &&) true
	sed 's|/usr/local/sbin/|$(SBINDIR)/|g' dist/chatd@.service \
	    > $(DESTDIR)$(UNITDIR)/chatd@.service
	chmod 644 $(DESTDIR)$(UNITDIR)/chatd@.service
	install -m 644 $(INST_DOC) $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(INSTALLED)
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

install-check: all
	@MAKE="$(MAKE)" BUILD=$(BUILD) bash tests/install-check
check test: install-check

clean:
	rm -rf build chatd chat $(TOOLS)

# ---- fuzzing (tests/fuzz/) -------------------------------------------------
# libFuzzer harnesses. Only fuzz-regress is part of `check` (it needs no
# clang); the clang targets are not part of `all` or `check`.
#   make fuzz                  build them with clang into build/fuzz/
#   make fuzz-run SECONDS=60   run each for SECONDS on its corpus
#   make fuzz-regress          replay the seed corpora and tests/fuzz/regress/
#                              with $(CC) + ASan/UBSan (no clang needed)
#   make fuzz-seeds            regenerate tests/fuzz/corpus/ (gen_corpus.c)
# Objects: build/fuzz/obj (clang, fuzzer-instrumented) and
# build/fuzz/regress/obj ($(CC)), apart from build/ and build/san/.
FUZZ_CC       ?= clang
FUZZ_NAMES    := client_frames internal_frames apply config
FUZZ_SRCS     := src/buf.c src/wire.c src/config.c src/log.c src/store.c \
                 src/store_apply.c src/store_query.c src/store_results.c
FUZZ_DIR      := build/fuzz
FUZZ_RDIR     := build/fuzz/regress
FUZZ_CFLAGS    = -std=c11 -g -O1 -fno-omit-frame-pointer \
                 $(filter-out -Werror,$(WARN)) -D_GNU_SOURCE \
                 -DCHATD_VERSION='"$(VERSION)"' -Iinclude -Isrc -Itests/fuzz \
                 $(PKG_CFLAGS) $(CFLAGS)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
SECONDS       ?= 60
FUZZ_BINS     := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_NAMES))
FUZZ_RBINS    := $(patsubst %,$(FUZZ_RDIR)/fuzz_%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-run fuzz-regress fuzz-seeds

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	    -MMD -MP -c $< -o $@
$(FUZZ_RDIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/libfuzzsrc.a: $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRCS))
	rm -f $@
	$(AR) rcs $@ $^
$(FUZZ_RDIR)/libfuzzsrc.a: $(patsubst %.c,$(FUZZ_RDIR)/obj/%.o,$(FUZZ_SRCS))
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o \
		$(FUZZ_DIR)/obj/tests/fuzz/fuzz_util.o $(FUZZ_DIR)/libfuzzsrc.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS_SERVER)
$(FUZZ_RDIR)/fuzz_%: $(FUZZ_RDIR)/obj/tests/fuzz/fuzz_%.o \
		$(FUZZ_RDIR)/obj/tests/fuzz/fuzz_util.o \
		$(FUZZ_RDIR)/obj/tests/fuzz/standalone.o $(FUZZ_RDIR)/libfuzzsrc.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(LIBS_SERVER)
$(FUZZ_RDIR)/gen_corpus: $(FUZZ_RDIR)/obj/tests/fuzz/gen_corpus.o \
		$(FUZZ_RDIR)/libfuzzsrc.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(LIBS_SERVER)

fuzz: $(FUZZ_BINS)
	@echo "Built $(FUZZ_BINS)."
	@echo "Run one (new inputs go to the first directory, crashes to ./crash-*):"
	@echo "  mkdir -p build/fuzz/corpus/client_frames"
	@echo "  build/fuzz/fuzz_client_frames build/fuzz/corpus/client_frames tests/fuzz/corpus/client_frames -max_total_time=600 -print_final_stats=1"
	@echo "  (likewise internal_frames, apply, config; add -close_fd_mask=2 to apply"
	@echo "   to silence the store's log of refused records, -dict=tests/fuzz/config.dict"
	@echo "   to config; see tests/fuzz/README.md)"
	@echo "Or all of them: make fuzz-run SECONDS=600.  Replay a crash: build/fuzz/fuzz_NAME crash-FILE"

fuzz-run: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$n $(FUZZ_DIR)/artifacts/$$n || exit 1; \
	    echo "== fuzz_$$n for $(SECONDS) s"; \
	    $(FUZZ_DIR)/fuzz_$$n $(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n \
	        -max_total_time=$(SECONDS) -print_final_stats=1 \
	        $$(test $$n = apply && echo -close_fd_mask=2) \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$$n/ \
	        $$(test -f tests/fuzz/$$n.dict && echo -dict=tests/fuzz/$$n.dict) \
	        || exit 1; \
	done

fuzz-regress: $(FUZZ_RBINS)
	@failed=; for n in $(FUZZ_NAMES); do \
	    dirs=tests/fuzz/corpus/$$n; \
	    test -d tests/fuzz/regress/$$n && dirs="$$dirs tests/fuzz/regress/$$n"; \
	    if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	        ASAN_OPTIONS=$${ASAN_OPTIONS:+$$ASAN_OPTIONS:}handle_abort=1 \
	        $(FUZZ_RDIR)/fuzz_$$n -v $$dirs >$(FUZZ_RDIR)/fuzz_$$n.log 2>&1; \
	    then tail -n 1 $(FUZZ_RDIR)/fuzz_$$n.log; \
	    else tail -n 40 $(FUZZ_RDIR)/fuzz_$$n.log; failed="$$failed $$n"; fi; \
	done; \
	test -z "$$failed" || { echo "fuzz-regress: FAILED:$$failed"; exit 1; }

fuzz-seeds: $(FUZZ_RDIR)/gen_corpus
	$(FUZZ_RDIR)/gen_corpus tests/fuzz/corpus

# ---- benchmarks (tools/bench-suite) -------------------------------------------
# A 3-replica cluster (and a 1-replica one) from generated configurations in a
# temporary directory; prints one table with PASS/MISS against the targets and
# writes bench/results.json. About 10 min on 2 cores; QUICK=1: about 2 min.
# The cold-start store (1,000,000 messages) is built once, then cached in
# build/bench-cache/.
.PHONY: bench
bench: all
	bash tools/bench-suite $(if $(filter 1,$(QUICK)),--quick) $(if $(NOTE),--note "$(NOTE)")

help:
	@echo "make            build ./chatd, ./chat and tools/ (installs deps if missing)"
	@echo "make check      build and run every test (unit + real replicas on loopback)"
	@echo "make SANITIZE=1 check   the same under ASan+UBSan (objects in build/san)"
	@echo "make unit       unit tests only;  make cluster   integration tests only"
	@echo "make run        start the replicas of replicas.conf; Ctrl-C stops them"
	@echo "make doc        regenerate wire/PROTOCOL.md tables from wire/wire.def"
	@echo "make install PREFIX=/usr/local DESTDIR=   install programs, man pages, unit"
	@echo "make uninstall  remove what install put (same PREFIX and DESTDIR)"
	@echo "make install-check   install into a temporary DESTDIR, check, uninstall"
	@echo "make fuzz       build the libFuzzer harnesses (clang); see tests/fuzz/README.md"
	@echo "make valgrind   three replicas under valgrind memcheck (a few minutes)"
	@echo "make clean      remove build products"
	@echo "make bench      the performance suite (~10 min; QUICK=1 ~2 min)"

-include $(shell find build -name '*.d' 2>/dev/null)
