/*
 * restartmanager: the public C API, for programs that embed Lua 5.4.
 *
 * Link build/librestartmanager.a (`make static`) and the Lua library, then
 *
 *   luaL_requiref(L, "restartmanager", luaopen_restartmanager, 0);
 *
 * opens the whole library from inside the program: the C core and every
 * module of the Lua layer, with no file on package.path or package.cpath.
 * The declarations are C; a C++ host includes this header as it is.
 */
#ifndef RESTARTMANAGER_H
#define RESTARTMANAGER_H

#ifdef __cplusplus
extern "C" {
#endif

#include "lua.h"

/*
 * The C core, the module "restartmanager.core" (the Restart Manager's calls,
 * one for one). Pushes the module table; the Lua layer is not loaded.
 */
int luaopen_restartmanager_core(lua_State *L);

/*
 * The whole library. Registers "restartmanager.core" and every module of the
 * Lua layer (restartmanager, restartmanager.policy, restartmanager.cli, ...)
 * in package.preload, replacing entries of the same names, then requires
 * "restartmanager" and pushes its module table. Because the preload searcher
 * comes first, the modules built into the program win over files of the
 * same names on package.path and a core on package.cpath. Needs the package
 * library (luaL_openlibs); raises an error otherwise.
 */
int luaopen_restartmanager(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
