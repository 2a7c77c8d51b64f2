/*
 * Bringing programs back (restart_api.c): `exec` on both platforms,
 * `capture` and `restart_captured` on Linux.
 */
#ifndef RESTARTMANAGER_RESTART_API_H
#define RESTARTMANAGER_RESTART_API_H

#include "lua.h"

/* Adds the functions to the module table on top of the stack (which must
 * already hold the `error` constants). */
void rm_restart_open(lua_State *L);

#endif
