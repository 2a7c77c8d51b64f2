/*
 * What the files of the Lua binding (the .c files of src/) share: the one failure path
 * and the argument readers. Each binding file has its own luaL_Reg and an
 * opener that adds its functions to the module table;
 * luaopen_restartmanager_core (restartmanager.c) calls them all.
 */
#ifndef RESTARTMANAGER_BINDING_H
#define RESTARTMANAGER_BINDING_H

#include <stddef.h>

#include "lua.h"

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* The failure triple every core function returns: nil, "NAME (code):
 * text", code. text NULL: the backend's description of code. */
int rm_push_failure(lua_State *L, unsigned code, const char *text);

/* 1 when s[0..len) is well-formed UTF-8. */
int rm_valid_utf8(const unsigned char *s, size_t len);

/* {pid=, start_time=} at idx into *p; raises an argument error for arg
 * (at array index i when i > 0) when it is not one. */
void rm_check_process(lua_State *L, int idx, int arg, lua_Integer i,
                      rm_unique_process *p);

/* Openers of the binding files: each adds its functions to the module
 * table on top of the stack. */
void rm_open_process(lua_State *L); /* lprocess.c */
void rm_open_console(lua_State *L); /* lconsole.c */
void rm_open_restart(lua_State *L); /* lrestart.c */

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
