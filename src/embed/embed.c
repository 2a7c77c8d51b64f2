/*
 * luaopen_restartmanager: the whole library from inside the program (the
 * static library only; the shared module carries the C core alone).
 *
 * The Lua layer is compiled in: rm_embedded.h, generated at build time by
 * src/embed/modules.lua from the files of lua/, holds every module's source
 * byte for byte. Each becomes a loader in package.preload, as does the C
 * core, and the preload searcher, first in package.searchers, makes these
 * win over files on package.path and package.cpath (see restartmanager.h).
 */
#include <stddef.h>

#include "lua.h"
#include "lauxlib.h"

#include "restartmanager.h"

#ifdef _WIN32
#define RM_EXPORT __declspec(dllexport)
#else
#define RM_EXPORT __attribute__((visibility("default")))
#endif

struct rm_embedded_module {
  const char *name;      /* the module name, "restartmanager.policy" */
  const char *chunkname; /* "=restartmanager/policy.lua" */
  const unsigned char *source;
  size_t size;
};

#include "rm_embedded.h"

#define EMBEDDED_COUNT (sizeof rm_embedded / sizeof rm_embedded[0])

/* package.preload's loader of the module of upvalue 1 (its index):
 * loader(name, extra) runs the chunk with (name, extra), as require does
 * with a file, and returns what the chunk returns. */
static int load_embedded(lua_State *L) {
  lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
  const struct rm_embedded_module *m = &rm_embedded[i];
  lua_settop(L, 2);
  if (luaL_loadbufferx(L, (const char *)m->source, m->size, m->chunkname,
                       "t") != LUA_OK)
    return lua_error(L);
  lua_insert(L, 1);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L);
}

RM_EXPORT int luaopen_restartmanager(lua_State *L);
RM_EXPORT int luaopen_restartmanager(lua_State *L) {
  size_t i;
  luaL_checkversion(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_restartmanager_core);
  lua_setfield(L, -2, "restartmanager.core");
  for (i = 0; i < EMBEDDED_COUNT; i++) {
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, rm_embedded[i].name);
  }
  lua_pop(L, 1);
  /* require "restartmanager": package.loaded gets the table the rest of the
   * layer finds there, whether or not the host came through luaL_requiref */
  if (lua_getglobal(L, "require") != LUA_TFUNCTION)
    return luaL_error(L, "restartmanager: no require function (open the "
                         "package library first, e.g. with luaL_openlibs)");
  lua_pushliteral(L, "restartmanager");
  lua_call(L, 1, 1);
  return 1;
}
