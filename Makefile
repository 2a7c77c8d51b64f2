# restartmanager: the one entry point.
#
#   make            the native module (build/restartmanager/core.so)
#   make windows    both Windows DLLs (x86_64, i686) and a Windows Lua to run
#                   them under Wine
#   make test       every spec, native and Wine (installs what is missing)
#   make demo       the primary/secondary procedure end to end
#   make install    into PREFIX (or LUADIR/LIBDIR)
#
# Honours CC, CFLAGS, LIBFLAG, LUA_INCDIR, PREFIX, LUADIR and LIBDIR like a
# LuaRocks-friendly Makefile.

LUA        ?= lua5.4
CC         ?= cc
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared
LUA_INCDIR ?= /usr/include/lua5.4
PREFIX     ?= /usr/local
LUADIR     ?= $(PREFIX)/share/lua/5.4
LIBDIR     ?= $(PREFIX)/lib/lua/5.4
BUSTED     ?= /usr/bin/busted

BUILD      := build
WARN       := -std=c99 -pedantic -Wall -Wextra -Werror -Wshadow \
              -Wstrict-prototypes -Wmissing-prototypes -Wno-long-long
ALL_CFLAGS  = $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -I$(LUA_INCDIR)

HEADERS    := src/backend.h src/native.h
NATIVE_SRC := src/restartmanager.c src/native_store.c src/native_scan.c \
              src/native_control.c
WIN_SRC    := src/restartmanager.c src/backend_windows.c src/win_restart.c

NATIVE_SO  := $(BUILD)/restartmanager/core.so

.PHONY: all windows standin win64-standin win32-standin test test-native test-wine demo deps install lint clean

all: $(NATIVE_SO)

$(NATIVE_SO): $(NATIVE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $(LIBFLAG) -o $@ $(NATIVE_SRC) $(LDFLAGS)

# ---------------------------------------------------------------------------
# Windows: the module for x86_64 and i686, and Lua itself from Debian's
# lua5.4 source package (lua54.dll, lua.exe) to link against and run under
# Wine.

WIN64      := x86_64-w64-mingw32
WIN32      := i686-w64-mingw32
LUA_SRC     = $(BUILD)/lua-src
WIN_CFLAGS := -O2 $(WARN)

windows: $(BUILD)/win64/restartmanager/core.dll \
         $(BUILD)/win32/restartmanager/core.dll

$(LUA_SRC)/src/lua.h:
	@rm -rf $(LUA_SRC) $(BUILD)/lua-dl && mkdir -p $(BUILD)/lua-dl
	cd $(BUILD)/lua-dl && apt-get source lua5.4 >/dev/null
	mv $(BUILD)/lua-dl/lua5.4-*/ $(LUA_SRC) && rm -rf $(BUILD)/lua-dl
	@test -f $@

# $(1): win64 or win32, $(2): the compiler's triplet
define windows_lua
$(BUILD)/$(1)/lua54.dll: $(LUA_SRC)/src/lua.h
	@mkdir -p $$(@D)
	$(2)-gcc -O2 -DLUA_BUILD_AS_DLL -shared -s -o $$@ \
	  $$$$(ls $(LUA_SRC)/src/*.c | grep -v -E '/luac?\.c')

$(BUILD)/$(1)/lua.exe: $(BUILD)/$(1)/lua54.dll
	$(2)-gcc -O2 -DLUA_BUILD_AS_DLL -s -o $$@ $(LUA_SRC)/src/lua.c $$<

$(BUILD)/$(1)/restartmanager/core.dll: $(WIN_SRC) $(HEADERS) src/win_restart.h \
    $(BUILD)/$(1)/lua54.dll $(BUILD)/$(1)/lua.exe
	@mkdir -p $$(@D)
	$(2)-gcc $(WIN_CFLAGS) -I$(LUA_SRC)/src -shared -o $$@ $(WIN_SRC) \
	  $(BUILD)/$(1)/lua54.dll -lrstrtmgr
endef
$(eval $(call windows_lua,win64,$(WIN64)))
$(eval $(call windows_lua,win32,$(WIN32)))

# TEST STAND-IN, not Microsoft's rstrtmgr.dll and not Wine's: a scripted
# rstrtmgr.dll built from spec/helpers/standin_rstrtmgr.c, which the Wine
# specs load in place of Wine's own (build/win64-standin/ holds it beside
# copies of lua.exe, lua54.dll and the module; run with
# WINEDLLOVERRIDES=rstrtmgr=n). wintool.exe (spec/helpers/wintool.c) checks
# the command-line quoting against CommandLineToArgvW and reads process
# times. Only the x86_64 set runs (Wine here is 64-bit only); the i686 set is
# built to keep both ABIs compiling.
STANDIN_SRC := spec/helpers/standin_rstrtmgr.c
WINTOOL_SRC := spec/helpers/wintool.c src/win_restart.c

# $(1): win64 or win32, $(2): the compiler's triplet
define windows_standin
$(BUILD)/$(1)-standin/rstrtmgr.dll: $(STANDIN_SRC)
	@mkdir -p $$(@D)
	$(2)-gcc $(WIN_CFLAGS) -shared -Wl,--kill-at -o $$@ $(STANDIN_SRC)

$(BUILD)/$(1)-standin/wintool.exe: $(WINTOOL_SRC) src/win_restart.h
	@mkdir -p $$(@D)
	$(2)-gcc $(WIN_CFLAGS) -Isrc -o $$@ $(WINTOOL_SRC) -lshell32

$(BUILD)/$(1)-standin/.copied: $(BUILD)/$(1)/restartmanager/core.dll \
    $(BUILD)/$(1)/lua54.dll $(BUILD)/$(1)/lua.exe
	@mkdir -p $$(@D)/restartmanager
	cp $(BUILD)/$(1)/lua.exe $(BUILD)/$(1)/lua54.dll $$(@D)/
	cp $(BUILD)/$(1)/restartmanager/core.dll $$(@D)/restartmanager/
	@touch $$@

$(1)-standin: $(BUILD)/$(1)-standin/rstrtmgr.dll \
    $(BUILD)/$(1)-standin/wintool.exe $(BUILD)/$(1)-standin/.copied
endef
$(eval $(call windows_standin,win64,$(WIN64)))
$(eval $(call windows_standin,win32,$(WIN32)))

standin: win64-standin win32-standin

# Programs the specs start (spec/helpers/*.c).
HELPERS := $(BUILD)/helpers/holder $(BUILD)/helpers/two_states

$(BUILD)/helpers/two_states: spec/helpers/two_states.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INCDIR) -pthread -o $@ $< -llua5.4

$(BUILD)/helpers/%: spec/helpers/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -pthread -o $@ $<

# ---------------------------------------------------------------------------
# Tests. busted is Debian's (installed for Lua 5.1's path); it runs here under
# Lua 5.4 with the project's own modules first on the path.

SPEC_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua" \
           LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" \
           RM_BUILD="$(CURDIR)/$(BUILD)" RM_LUA="$(LUA)"

deps:
	@sh .ci/install-deps

test: deps all windows standin $(HELPERS)
	@store=$$(mktemp -d) && \
	  XDG_RUNTIME_DIR=$$store $(SPEC_ENV) $(LUA) $(BUSTED) $(BUSTED_FLAGS) spec; \
	  rc=$$?; rm -rf $$store; exit $$rc

$(BUILD)/bench/clock.so: spec/bench/clock.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $<

bench: deps all $(HELPERS) $(BUILD)/bench/clock.so
	@$(SPEC_ENV) $(LUA) spec/bench/who_uses.lua $(BENCH_ARGS)
	@$(SPEC_ENV) LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;$(CURDIR)/$(BUILD)/bench/?.so;;" \
	  $(LUA) spec/bench/shutdown.lua

demo: deps all
	@$(SPEC_ENV) $(LUA) -e 'local rm = require "restartmanager"; \
	  local s <close> = assert(rm.start()); \
	  print("backend " .. rm.core.backend .. ", session key " .. s.key)'

install: all
	install -d $(DESTDIR)$(LIBDIR)/restartmanager $(DESTDIR)$(LUADIR)/restartmanager
	install -m 755 $(NATIVE_SO) $(DESTDIR)$(LIBDIR)/restartmanager/core.so
	install -m 644 lua/restartmanager/init.lua $(DESTDIR)$(LUADIR)/restartmanager/init.lua

lint:
	luacheck lua spec

clean:
	rm -rf $(BUILD)/restartmanager $(BUILD)/win64 $(BUILD)/win32 $(BUILD)/rocks \
	  $(BUILD)/win64-standin $(BUILD)/win32-standin
