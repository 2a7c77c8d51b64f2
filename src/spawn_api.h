/*
 * Processes the Lua layer starts and looks at (POSIX only): core.spawn,
 * core.wait and core.executable, used by restartmanager.spawn_secondary, the
 * never-touch rules and the command-line tool.
 */
#ifndef RESTARTMANAGER_SPAWN_API_H
#define RESTARTMANAGER_SPAWN_API_H

#include "lua.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Adds spawn, wait and executable to the module table on top of the stack
 * (which must already hold the `error` constants). */
void rm_spawn_open(lua_State *L);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
