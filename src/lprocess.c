/***
 * Processes the Lua layer starts and looks at, on both platforms:
 * `spawn`, `wait`, `executable` and `running` of `restartmanager.core`,
 * bound over the process interface (process.h). Used by
 * restartmanager.spawn_secondary, the never-touch rules and the
 * command-line tool.
 *
 * `spawn` starts a program with an argument vector (no shell), with the
 * calling process's environment changed by a table, its standard streams
 * inherited and nothing else, so that a secondary installer never holds the
 * primary's files or session lock. Failures return `nil, message, code`
 * with a Win32 code, like the rest of the core.
 *
 * @module restartmanager.core
 */
#include <limits.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "binding.h"
#include "process.h"

/* Registry table pid -> child userdata for the children whose
 * implementation keeps something (the Windows process handle, which holds
 * the exit status) until they are waited for. On POSIX it stays empty. */
#define CHILDREN "restartmanager.children"
#define CHILD_MT "restartmanager.Child"

static int child_gc(lua_State *L) {
  rm_process_release((rm_child *)luaL_checkudata(L, 1, CHILD_MT));
  return 0;
}

static void push_children(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, CHILDREN) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, CHILDREN);
  }
}

/* A pid argument: 1 to INT_MAX, as every platform's pid fits. */
static lua_Integer check_pid(lua_State *L, int arg) {
  lua_Integer pid = luaL_checkinteger(L, arg);
  luaL_argcheck(L, pid > 0 && pid <= INT_MAX, arg, "pid must be a positive pid");
  return pid;
}

static const char *check_text(lua_State *L, int idx, int arg,
                              const char *zero_msg) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len) luaL_argerror(L, arg, zero_msg);
  if (rm_backend_needs_utf8 && !rm_valid_utf8((const unsigned char *)s, len))
    luaL_argerror(L, arg, "string is not valid UTF-8");
  return s;
}

/* The program and its arguments at arg into a Lua-owned array (pushed);
 * the strings stay referenced by the table. */
static const char **check_argv(lua_State *L, int arg, size_t *argc) {
  size_t n, i;
  const char **argv;
  luaL_checktype(L, arg, LUA_TTABLE);
  n = (size_t)lua_rawlen(L, arg);
  luaL_argcheck(L, n > 0, arg, "the program is missing");
  if (n >= (size_t)INT_MAX / sizeof *argv) luaL_error(L, "too many items");
  argv = (const char **)lua_newuserdatauv(L, n * sizeof *argv, 0);
  for (i = 0; i < n; i++) {
    if (lua_rawgeti(L, arg, (lua_Integer)(i + 1)) != LUA_TSTRING)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "string expected at index %I, got %s",
                                    (lua_Integer)(i + 1),
                                    luaL_typename(L, -1)));
    argv[i] = check_text(L, -1, arg, "arguments may not contain '\\0'");
    lua_pop(L, 1); /* still referenced by the table */
  }
  *argc = n;
  return argv;
}

static int valid_env_name(const char *s, size_t len) {
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len; i++)
    if (s[i] == '=' || s[i] == '\0') return 0;
  return 1;
}

/* The environment changes at arg (nil: none) into a Lua-owned array
 * (pushed): NAME = "value" sets, NAME = false removes. */
static rm_env_change *check_env(lua_State *L, int arg, size_t *count) {
  size_t n = 0, k = 0;
  rm_env_change *c;
  *count = 0;
  if (lua_isnoneornil(L, arg)) return NULL;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    size_t len;
    const char *name;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, arg, "environment names must be strings");
    name = lua_tolstring(L, -2, &len);
    if (!valid_env_name(name, len))
      luaL_argerror(L, arg, lua_pushfstring(L, "bad environment name '%s'",
                                            name));
    if (lua_type(L, -1) == LUA_TSTRING)
      (void)check_text(L, -1, arg,
                       "environment values may not contain '\\0'");
    else if (!(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
      luaL_argerror(L, arg, "environment values must be strings or false");
    n++;
    lua_pop(L, 1);
  }
  if (n >= (size_t)INT_MAX / sizeof *c) luaL_error(L, "too many items");
  c = (rm_env_change *)lua_newuserdatauv(L, (n ? n : 1) * sizeof *c, 0);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0 && k < n) {
    c[k].name = lua_tostring(L, -2); /* a string key: no conversion */
    c[k].value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    k++;
    lua_pop(L, 1);
  }
  *count = k;
  return c;
}

/***
 * Starts a program: `argv[1]` is looked up in `PATH` when it names no
 * directory, and receives `argv` as its arguments; no shell is involved.
 * Standard input, output and error are inherited; nothing else is (POSIX:
 * every other descriptor is closed in the child, and signal dispositions
 * and the signal mask are reset).
 * @function spawn
 * @tparam {string,...} argv the program and its arguments (at least one)
 * @tparam[opt] table env changes to the environment: `NAME = "value"` sets,
 * `NAME = false` removes; the rest is inherited
 * @treturn[1] integer the child's pid (wait for it with `wait`)
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2 when the program is not found)
 */
static int l_spawn(lua_State *L) {
  size_t argc, nenv;
  const char **argv;
  rm_env_change *env;
  rm_child c, *kept;
  char msg[RM_PROCESS_MSG_SIZE];
  unsigned rc;
  lua_settop(L, 2);
  argv = check_argv(L, 1, &argc);
  env = check_env(L, 2, &nenv);
  memset(&c, 0, sizeof c);
  rc = rm_process_spawn(argc, argv, nenv, env, &c, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  if (c.handle) {
    /* kept until waited for, or released when the state closes */
    push_children(L);
    kept = (rm_child *)lua_newuserdatauv(L, sizeof *kept, 0);
    *kept = c;
    luaL_setmetatable(L, CHILD_MT);
    lua_rawseti(L, -2, (lua_Integer)c.pid);
    lua_pop(L, 1);
  }
  lua_pushinteger(L, (lua_Integer)c.pid);
  return 1;
}

/***
 * Waits for a child started by `spawn` to end.
 * @function wait
 * @tparam integer pid
 * @tparam[opt=false] boolean nohang return at once when it still runs
 * @treturn[1] string "exit" or "signal" (POSIX only)
 * @treturn[1] integer its exit status, or the signal that ended it
 * @treturn[2] string "running" (only with `nohang`)
 * @treturn[3] nil
 * @treturn[3] string message
 * @treturn[3] integer Win32 error code (6 when pid is not a child to wait
 * for)
 */
static int l_wait(lua_State *L) {
  lua_Integer pid = check_pid(L, 1);
  int nohang = lua_toboolean(L, 2), state = 0, value = 0;
  rm_child local, *c = &local;
  char msg[RM_PROCESS_MSG_SIZE];
  unsigned rc;
  lua_settop(L, 2);
  push_children(L); /* 3 */
  if (lua_rawgeti(L, 3, pid) == LUA_TUSERDATA)
    c = (rm_child *)luaL_checkudata(L, -1, CHILD_MT);
  else {
    local.pid = (uint32_t)pid;
    local.handle = NULL;
  }
  rc = rm_process_wait(c, nohang, &state, &value, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  if (state == RM_CHILD_RUNNING) {
    lua_pushliteral(L, "running");
    return 1;
  }
  if (c != &local) {
    rm_process_release(c);
    lua_pushnil(L);
    lua_rawseti(L, 3, pid);
  }
  if (state == RM_CHILD_SIGNALED)
    lua_pushliteral(L, "signal");
  else
    lua_pushliteral(L, "exit");
  lua_pushinteger(L, value);
  return 2;
}

/***
 * The full path of a process's executable. On Linux, a file that was
 * removed or replaced since the process started is named by the path it
 * had (without the " (deleted)" the kernel appends).
 * @function executable
 * @tparam integer pid
 * @treturn[1] string
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2: no such process, 5: another
 * user's process)
 */
static int l_executable(lua_State *L) {
  lua_Integer pid = check_pid(L, 1);
  char msg[RM_PROCESS_MSG_SIZE];
  size_t size = 4096, len = 0;
  unsigned rc;
  int tries;
  char *buf = NULL;
  for (tries = 0; tries < 4; tries++) {
    buf = (char *)lua_newuserdatauv(L, size, 0);
    rc = rm_process_executable((uint32_t)pid, buf, size, &len, msg);
    if (rc != RM_E_MORE_DATA || len <= size) break;
    size = len;
    lua_pop(L, 1);
  }
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  lua_pushlstring(L, buf, len);
  return 1;
}

/***
 * Whether a process still runs: the same pid with the same start time, and
 * not a process that has ended but was not yet reaped (Linux: a zombie) or
 * is still held open by someone (Windows).
 * @function running
 * @tparam table process `{pid=, start_time=}`
 * @treturn[1] boolean
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_running(lua_State *L) {
  rm_unique_process p;
  int running = 0;
  unsigned rc;
  rm_check_process(L, 1, 1, 0, &p);
  rc = rm_process_running(&p, &running);
  if (rc != RM_OK) return rm_push_failure(L, rc, NULL);
  lua_pushboolean(L, running);
  return 1;
}

static const luaL_Reg process_functions[] = {
  {"spawn", l_spawn},
  {"wait", l_wait},
  {"executable", l_executable},
  {"running", l_running},
  {NULL, NULL}};

static const luaL_Reg child_meta[] = {{"__gc", child_gc}, {NULL, NULL}};

void rm_open_process(lua_State *L) {
  if (luaL_newmetatable(L, CHILD_MT)) luaL_setfuncs(L, child_meta, 0);
  lua_pop(L, 1);
  luaL_setfuncs(L, process_functions, 0);
}
