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
             -DCHATD_VERSION='"$(VERSION)"' -Iinclude -Itests/harness $(PKG_CFLAGS) $(CFLAGS)
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
TOOLS       := $(patsubst %.c,%,$(wildcard tools/*.c))
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

.PHONY: all check test unit cluster run clean install uninstall help doc doc-check
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
$(BUILD)/tests/%: $(call obj,tests/%.c) $(HARNESS_LIB) $(SERVER_LIB) $(CLIENT_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SERVER) $(LIBS_CHECK)

# ---- tests ---------------------------------------------------------------
# Unit tests first, then the protocol document check, then the tests that
# run real replicas on loopback. CHATD_BIN tells those where the binaries are.
check test: all $(UNIT_TESTS) $(CLUSTER_TESTS) doc-check
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

# Start the replicas of replicas.conf in the foreground; Ctrl-C stops all.
run: all
	@bash tools/run-cluster replicas.conf

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 755 chatd $(DESTDIR)$(PREFIX)/sbin/chatd
	install -m 755 chat $(DESTDIR)$(PREFIX)/bin/chat

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/chatd $(DESTDIR)$(PREFIX)/bin/chat

clean:
	rm -rf build chatd chat $(TOOLS)

help:
	@echo "make            build ./chatd, ./chat and tools/ (installs deps if missing)"
	@echo "make check      build and run every test (unit + real replicas on loopback)"
	@echo "make SANITIZE=1 check   the same under ASan+UBSan (objects in build/san)"
	@echo "make unit       unit tests only;  make cluster   integration tests only"
	@echo "make run        start the replicas of replicas.conf; Ctrl-C stops them"
	@echo "make doc        regenerate wire/PROTOCOL.md tables from wire/wire.def"
	@echo "make install PREFIX=/usr/local DESTDIR=   install the binaries"
	@echo "make clean      remove build products"

-include $(shell find build -name '*.d' 2>/dev/null)
