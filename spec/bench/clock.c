/*
 * A Lua module for the benchmarks: the monotonic clock in nanoseconds, the
 * same clock the holder helper stamps its exit with.
 *   local clock = require "clock"; clock.ns()
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "lua.h"
#include "lauxlib.h"

static int l_ns(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
  return 1;
}

__attribute__((visibility("default"))) int luaopen_clock(lua_State *L);
int luaopen_clock(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_ns);
  lua_setfield(L, -2, "ns");
  return 1;
}
