/*
 * A C program that embeds Lua and carries all of restartmanager inside it:
 * the C core and the Lua layer come from the static library
 * (build/librestartmanager.a, `make static`), so no file of the library is
 * looked up on package.path or package.cpath.
 *
 *   host SCRIPT [ARG...]      (SCRIPT "-": standard input)
 *
 * runs SCRIPT with `arg` set as the lua interpreter sets it (arg[0] the
 * script, arg[-1] this program), so that examples/primary.lua, run by this
 * host, starts examples/secondary.lua with this host too. Exit status: the
 * script's os.exit, 0 when it returns, 1 when it raised an error.
 *
 *   cc -Isrc -I/usr/include/lua5.4 -o host examples/host.c \
 *     build/librestartmanager.a -llua5.4 -pthread
 */
#include <stdio.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "restartmanager.h"

/* the error with a traceback, as lua.c reports it */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)",
                                         luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* the whole library: package.loaded.restartmanager, and every module of it
 * (restartmanager.core, restartmanager.policy, ...) in package.preload for
 * the script's own require; run protected, so that an error is reported */
static int open_restartmanager(lua_State *L) {
  luaL_requiref(L, "restartmanager", luaopen_restartmanager, 0);
  return 0;
}

int main(int argc, char **argv) {
  lua_State *L;
  int i, status;
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [ARG...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: not enough memory\n", argv[0]);
    return 1;
  }
  luaL_openlibs(L);

  lua_pushcfunction(L, traceback); /* the message handler, at index 1 */
  lua_pushcfunction(L, open_restartmanager);
  status = lua_pcall(L, 0, 0, 1);
  if (status == LUA_OK) {
    lua_createtable(L, argc - 2, 2);
    for (i = 0; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");

    status = luaL_loadfile(L, strcmp(argv[1], "-") == 0 ? NULL : argv[1]);
    if (status == LUA_OK) {
      luaL_checkstack(L, argc, "too many arguments");
      for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
      status = lua_pcall(L, argc - 2, 0, 1);
    }
  }
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}
