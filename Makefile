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
NATIVE_SRC := src/restartmanager.c src/native_store.c src/native_pending.c
WIN_SRC    := src/restartmanager.c src/backend_windows.c

NATIVE_SO  := $(BUILD)/restartmanager/core.so

.PHONY: all windows test test-native test-wine demo deps install lint clean

all: $(NATIVE_SO)

$(NATIVE_SO): $(NATIVE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(NATIVE_SRC) $(LDFLAGS)

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

$(BUILD)/$(1)/restartmanager/core.dll: $(WIN_SRC) $(HEADERS) \
    $(BUILD)/$(1)/lua54.dll $(BUILD)/$(1)/lua.exe
	@mkdir -p $$(@D)
	$(2)-gcc $(WIN_CFLAGS) -I$(LUA_SRC)/src -shared -o $$@ $(WIN_SRC) \
	  $(BUILD)/$(1)/lua54.dll -lrstrtmgr
endef
$(eval $(call windows_lua,win64,$(WIN64)))
$(eval $(call windows_lua,win32,$(WIN32)))

# ---------------------------------------------------------------------------
# Tests. busted is Debian's (installed for Lua 5.1's path); it runs here under
# Lua 5.4 with the project's own modules first on the path.

SPEC_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua" \
           LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" \
           RM_BUILD="$(CURDIR)/$(BUILD)" RM_LUA="$(LUA)"

deps:
	@sh .ci/install-deps

test: deps all windows
	@store=$$(mktemp -d) && \
	  XDG_RUNTIME_DIR=$$store $(SPEC_ENV) $(LUA) $(BUSTED) $(BUSTED_FLAGS) spec; \
	  rc=$$?; rm -rf $$store; exit $$rc

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
	rm -rf $(BUILD)/restartmanager $(BUILD)/win64 $(BUILD)/win32 $(BUILD)/rocks
