/*
 * A program the specs start for an application that is registered for
 * restart and takes its time to exit once asked to.
 *
 *   slow_exit MS STATE DATA
 *
 * registers for restart with its own arguments (restartmanager.core, found
 * through LUA_CPATH), keeps DATA open, appends "pid=<pid>" to STATE, then
 * waits for SIGTERM and exits MS milliseconds after it.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static const char chunk[] =
    "local ms, state, data = ...\n"
    "local core = require 'restartmanager.core'\n"
    "assert(core.register_application_restart({ ms, state, data }))\n"
    "HELD = assert(io.open(data, 'r'))\n"
    "local pid = assert(io.open('/proc/self/stat')):read('l'):match('^(%d+)')\n"
    "local out = assert(io.open(state, 'a'))\n"
    "out:write('pid=', pid, '\\n')\n"
    "out:close()\n";

int main(int argc, char **argv) {
  sigset_t term;
  struct timespec ts;
  lua_State *L;
  long ms;
  int sig, i;
  if (argc != 4) {
    fprintf(stderr, "usage: slow_exit MS STATE DATA\n");
    return 2;
  }
  ms = strtol(argv[1], NULL, 10);
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, NULL);
  L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_loadstring(L, chunk) != LUA_OK) return 2;
  for (i = 1; i <= 3; i++) lua_pushstring(L, argv[i]);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    fprintf(stderr, "slow_exit: %s\n", lua_tostring(L, -1));
    return 2;
  }
  printf("ready %ld\n", (long)getpid());
  fflush(stdout);
  while (sigwait(&term, &sig) != 0) {}
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000;
  nanosleep(&ts, NULL);
  _exit(0);
}
