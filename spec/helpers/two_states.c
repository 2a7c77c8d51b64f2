/*
 * Two Lua states in two threads of one process, as a host program with a UI
 * thread would have them: state A runs a shutdown that would wait a long
 * time; state B, which cannot hold A's session, cancels it by key with
 * restartmanager.core.cancel.
 *
 *   two_states PATH    PATH: a file held by a process that ignores SIGTERM
 *
 * Prints "shutdown <ok> <code> <milliseconds>" and "cancel <ok>".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static char key[64];
static int done;

static int publish(lua_State *L) {
  const char *k = luaL_checkstring(L, 1);
  pthread_mutex_lock(&lock);
  snprintf(key, sizeof key, "%s", k);
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  return 0;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int elapsed(lua_State *L) {
  lua_pushinteger(L, now_ms());
  return 1;
}

static const char *script_a =
    "local path = ...\n"
    "local core = require 'restartmanager.core'\n"
    "local s, key = assert(core.start_session())\n"
    "assert(s:register_resources({ path }))\n"
    "publish(key)\n"
    "local t0 = now()\n"
    "local ok, msg, code = s:shutdown(core.shutdown.force, nil, 20000)\n"
    "print('shutdown', ok, code, now() - t0)\n"
    "s:end_session()\n";

/* State B: cancels A's running task every 50 ms until A is done (a cancel
 * that comes before the shutdown begins is not kept). */
static void *thread_b(void *arg) {
  lua_State *L = luaL_newstate();
  int any_ok = 0;
  (void)arg;
  luaL_openlibs(L);
  pthread_mutex_lock(&lock);
  while (!key[0] && !done) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  for (;;) {
    struct timespec ts = {0, 50 * 1000000L};
    int finished;
    pthread_mutex_lock(&lock);
    finished = done;
    pthread_mutex_unlock(&lock);
    if (finished) break;
    nanosleep(&ts, NULL);
    luaL_loadstring(L, "return require('restartmanager.core').cancel(...)");
    pthread_mutex_lock(&lock);
    lua_pushstring(L, key);
    pthread_mutex_unlock(&lock);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      fprintf(stderr, "state B: %s\n", lua_tostring(L, -1));
      break;
    }
    if (lua_toboolean(L, -1)) any_ok = 1;
    lua_settop(L, 0);
  }
  printf("cancel %s\n", any_ok ? "true" : "false");
  lua_close(L);
  return NULL;
}

int main(int argc, char **argv) {
  lua_State *L;
  pthread_t b;
  int rc;
  if (argc != 2) {
    fprintf(stderr, "usage: two_states PATH\n");
    return 2;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_register(L, "publish", publish);
  lua_register(L, "now", elapsed);
  pthread_create(&b, NULL, thread_b, NULL);
  rc = luaL_loadstring(L, script_a);
  if (rc == LUA_OK) {
    lua_pushstring(L, argv[1]);
    rc = lua_pcall(L, 1, 0, 0);
  }
  if (rc != LUA_OK) fprintf(stderr, "state A: %s\n", lua_tostring(L, -1));
  fflush(stdout);
  pthread_mutex_lock(&lock);
  done = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  pthread_join(b, NULL);
  lua_close(L);
  return rc == LUA_OK ? 0 : 1;
}
