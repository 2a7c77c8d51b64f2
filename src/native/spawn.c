/***
 * Processes the Lua layer starts and looks at (POSIX only; absent from the
 * Windows build): `spawn`, `wait` and `executable` of `restartmanager.core`.
 *
 * `spawn` starts a program with an argument vector (no shell), with the
 * calling process's environment changed by a table, its standard streams
 * inherited and every other descriptor closed (as CreateProcess does without
 * handle inheritance), so that a secondary installer never holds the
 * primary's files or session lock. Failures return `nil, message, code` with
 * a Win32 code, like the rest of the core.
 *
 * @module restartmanager.core
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"

#include "spawn_api.h"

extern char **environ;

/* posix_spawn_file_actions_addclosefrom_np: glibc 2.34 and later */
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define HAVE_ADDCLOSEFROM 1
#endif

#define W_FILE_NOT_FOUND 2
#define W_ACCESS_DENIED 5
#define W_INVALID_HANDLE 6
#define W_OUTOFMEMORY 14
#define W_INVALID_PARAMETER 87
#define W_BAD_ARGUMENTS 160

static int win32_of_errno(int e) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
  case ESRCH: return W_FILE_NOT_FOUND;
  case EACCES:
  case EPERM:
  case ENOEXEC: return W_ACCESS_DENIED;
  case ECHILD: return W_INVALID_HANDLE;
  case ENOMEM:
  case EAGAIN: return W_OUTOFMEMORY;
  case E2BIG: return W_BAD_ARGUMENTS;
  default: return W_INVALID_PARAMETER;
  }
}

/* nil, "NAME (code): what: strerror", code. The names come from the module's
 * `error` table (upvalue 1), so that they read as everywhere else. */
static int push_errno(lua_State *L, int e, const char *what) {
  int code = win32_of_errno(e);
  const char *name;
  luaL_pushfail(L);
  lua_getfield(L, lua_upvalueindex(1), "error");
  lua_geti(L, -1, code);
  name = lua_tostring(L, -1);
  lua_pushfstring(L, "%s (%d): %s: %s", name ? name : "error", code, what,
                  strerror(e));
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_pushinteger(L, code);
  return 3;
}

/* A Lua-owned array of n + 1 pointers (NULL-terminated), pushed. */
static char **new_ptr_array(lua_State *L, size_t n) {
  char **a;
  if (n >= (size_t)INT_MAX / sizeof(char *)) luaL_error(L, "too many items");
  a = (char **)lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
  memset(a, 0, (n + 1) * sizeof(char *));
  return a;
}

static int valid_env_name(const char *s, size_t len) {
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len; i++)
    if (s[i] == '=' || s[i] == '\0') return 0;
  return 1;
}

/* Whether environ entry e ("NAME=value") is named in the change table at
 * index t. */
static int env_changed(lua_State *L, int t, const char *e) {
  const char *eq = strchr(e, '=');
  int changed;
  if (!eq) return 0;
  lua_pushlstring(L, e, (size_t)(eq - e));
  changed = lua_rawget(L, t) != LUA_TNIL;
  lua_pop(L, 1);
  return changed;
}

/* The environment of the child: environ without the names the table at arg
 * changes, then "NAME=value" for every string value. The strings are kept
 * alive in a table pushed below the returned array. */
static char **build_env(lua_State *L, int arg) {
  size_t n = 0, k = 0, i;
  char **envp;
  int keep;
  if (lua_isnoneornil(L, arg)) return environ;
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
    if (lua_type(L, -1) == LUA_TSTRING) {
      if (strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
        luaL_argerror(L, arg, "environment values may not contain '\\0'");
      n++;
    } else if (!(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
      luaL_argerror(L, arg, "environment values must be strings or false");
    }
    lua_pop(L, 1);
  }
  for (i = 0; environ && environ[i]; i++) n++;
  lua_newtable(L); /* keeps the "NAME=value" strings */
  keep = lua_gettop(L);
  envp = new_ptr_array(L, n);
  for (i = 0; environ && environ[i]; i++)
    if (!env_changed(L, arg, environ[i])) envp[k++] = environ[i];
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    if (lua_type(L, -1) == LUA_TSTRING) {
      envp[k++] = (char *)lua_pushfstring(L, "%s=%s", lua_tostring(L, -2),
                                          lua_tostring(L, -1));
      lua_rawseti(L, keep, (lua_Integer)k);
    }
    lua_pop(L, 1);
  }
  envp[k] = NULL;
  return envp;
}

/***
 * Starts a program: `argv[1]` is looked up in `PATH` when it has no slash,
 * and receives `argv` as its arguments; no shell is involved. Standard
 * input, output and error are inherited; every other descriptor is closed in
 * the child; signal dispositions and the signal mask are reset. POSIX only.
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
  size_t n, i;
  char **argv, **envp;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t all, none;
  pid_t pid;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  n = (size_t)lua_rawlen(L, 1);
  luaL_argcheck(L, n > 0, 1, "the program is missing");
  argv = new_ptr_array(L, n);
  for (i = 0; i < n; i++) {
    size_t len;
    if (lua_rawgeti(L, 1, (lua_Integer)(i + 1)) != LUA_TSTRING)
      return luaL_argerror(
          L, 1, lua_pushfstring(L, "string expected at index %I, got %s",
                                (lua_Integer)(i + 1), luaL_typename(L, -1)));
    argv[i] = (char *)lua_tolstring(L, -1, &len);
    if (strlen(argv[i]) != len)
      return luaL_argerror(L, 1, "arguments may not contain '\\0'");
    lua_pop(L, 1); /* still referenced by the table at 1 */
  }
  envp = build_env(L, 2);
  if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
    return push_errno(L, rc, "cannot start a process");
  if ((rc = posix_spawnattr_init(&attr)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return push_errno(L, rc, "cannot start a process");
  }
#ifdef HAVE_ADDCLOSEFROM
  rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  sigfillset(&all);
  sigemptyset(&none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0)
    rc = posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (rc == 0) rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    const char *what = lua_pushfstring(L, "cannot start '%s'", argv[0]);
    return push_errno(L, rc, what);
  }
  lua_pushinteger(L, (lua_Integer)pid);
  return 1;
}

/***
 * Waits for a child started by `spawn` to end. POSIX only.
 * @function wait
 * @tparam integer pid
 * @tparam[opt=false] boolean nohang return at once when it still runs
 * @treturn[1] string "exit" or "signal"
 * @treturn[1] integer its exit status, or the signal that ended it
 * @treturn[2] string "running" (only with `nohang`)
 * @treturn[3] nil
 * @treturn[3] string message
 * @treturn[3] integer Win32 error code (6 when pid is not a child to wait
 * for)
 */
static int l_wait(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  int nohang = lua_toboolean(L, 2), status = 0;
  pid_t r;
  luaL_argcheck(L, pid > 0 && pid <= INT_MAX, 1, "pid must be a positive pid");
  do {
    r = waitpid((pid_t)pid, &status, nohang ? WNOHANG : 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    return push_errno(L, e, lua_pushfstring(L, "cannot wait for %I", pid));
  }
  if (r == 0) {
    lua_pushliteral(L, "running");
    return 1;
  }
  if (WIFSIGNALED(status)) {
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, WTERMSIG(status));
  } else {
    lua_pushliteral(L, "exit");
    lua_pushinteger(L, WEXITSTATUS(status));
  }
  return 2;
}

/***
 * The path of a process's executable (`/proc/PID/exe`; " (deleted)" is
 * appended by the kernel once the file was removed or replaced). POSIX
 * systems with `/proc` only.
 * @function executable
 * @tparam integer pid
 * @treturn[1] string
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2: no such process, 5: another
 * user's process)
 */
static int l_executable(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  char link[64], path[PATH_MAX + 16];
  ssize_t n;
  luaL_argcheck(L, pid > 0 && pid <= INT_MAX, 1, "pid must be a positive pid");
  snprintf(link, sizeof link, "/proc/%ld/exe", (long)pid);
  n = readlink(link, path, sizeof path - 1);
  if (n < 0) {
    int e = errno;
    return push_errno(
        L, e, lua_pushfstring(L, "cannot read the executable of %I", pid));
  }
  lua_pushlstring(L, path, (size_t)n);
  return 1;
}

static const luaL_Reg spawn_functions[] = {
  {"spawn", l_spawn},
  {"wait", l_wait},
  {"executable", l_executable},
  {NULL, NULL}};

void rm_spawn_open(lua_State *L) {
  lua_pushvalue(L, -1); /* the module table, for the error names */
  luaL_setfuncs(L, spawn_functions, 1);
}
