/*
 * A C program that embeds Lua with restartmanager's C core linked in: the
 * core is registered with luaL_requiref under the name the Lua layer
 * requires, so no core.so is looked up. The Lua layer (lua/restartmanager/)
 * is found on package.path as usual (LUA_PATH).
 *
 *   host SCRIPT [ARG...]
 *
 * runs SCRIPT with `arg` set as the lua interpreter sets it (arg[0] the
 * script, arg[-1] this program), so that examples/primary.lua, run by this
 * host, starts examples/secondary.lua with this host too. Exit status: the
 * script's os.exit, or 1 when it raised an error.
 *
 * Built by `make build/examples/host` from this file and the native
 * sources.
 */
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

int luaopen_restartmanager_core(lua_State *L);

int main(int argc, char **argv) {
  lua_State *L;
  int i, status;
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [ARG...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  /* package.loaded["restartmanager.core"] = the core; no global */
  luaL_requiref(L, "restartmanager.core", luaopen_restartmanager_core, 0);
  lua_pop(L, 1);

  lua_createtable(L, argc - 2, 2);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");

  status = luaL_loadfile(L, argv[1]);
  if (status == LUA_OK) {
    lua_checkstack(L, argc);
    for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc - 2, 0, 0);
  }
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}
