/***
 * Bringing programs back: `exec` (both platforms; it fails clearly on
 * Windows), `capture`, `restart_captured` and `running_again` (both
 * platforms), of `restartmanager.core`.
 *
 * `capture` reads, before a process is stopped, what restarting it needs
 * when it never registered for restart; `restart_captured` starts it again
 * from such a capture, outside the caller: on Linux as its own user (in
 * the user's systemd manager where there is one), on Windows with
 * CreateProcessW, as the caller's user, which must be its own. The Lua
 * layer decides which applications qualify (`restart_unregistered`); these
 * two refuse the unsafe cases on their own as well.
 *
 * @module restartmanager.core
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "process.h"
#include "binding.h"

#ifndef _WIN32
#include <sys/stat.h>

#include "native/capture.h"
#include "native/restartreg.h"
#else
#include "windows/capture.h"
#include "windows/wutil.h"
#endif

/* A Lua-owned, NULL-terminated array of the strings of the array at idx
 * (which keeps them alive); *n their count. */
static const char **string_array(lua_State *L, int idx, const char *what,
                                 size_t *n, int need_eq) {
  size_t i, len;
  const char **v;
  luaL_checktype(L, idx, LUA_TTABLE);
  *n = (size_t)lua_rawlen(L, idx);
  v = (const char **)lua_newuserdatauv(L, (*n + 1) * sizeof *v, 0);
  for (i = 0; i < *n; i++) {
    const char *s;
    if (lua_rawgeti(L, idx, (lua_Integer)(i + 1)) != LUA_TSTRING)
      luaL_error(L, "bad field '%s' (string expected at index %d, got %s)",
                 what, (int)(i + 1), luaL_typename(L, -1));
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
      luaL_error(L, "bad field '%s' (no '\\0' allowed, at index %d)", what,
                 (int)(i + 1));
    /* Windows keeps a drive's directory as "=C:=C:\\dir": a name may
     * start with '=' there (need_eq 2) */
    if (need_eq && (s[0] == '\0' || !strchr(s + 1, '=') ||
                    (need_eq == 1 && s[0] == '=')))
      luaL_error(L, "bad field '%s' (\"NAME=value\" expected at index %d)",
                 what, (int)(i + 1));
    v[i] = s;
    lua_pop(L, 1); /* still referenced by the table */
  }
  v[*n] = NULL;
  return v;
}

/***
 * Replaces the calling process by a program, keeping its pid, its start
 * time, its environment and its working directory (POSIX `execv`). With
 * `register_restart`, the process first registers for restart as that
 * program, so that the registration is the program's once it runs: this
 * is `restartmanager launch`. On Windows this fails (code 87): a process
 * cannot replace its program there.
 * @function exec
 * @tparam {string,...} argv the program (looked up in `PATH` when it names
 * no directory) and its arguments
 * @tparam[opt] table opts `register_restart` (true, or a table with
 * `flags`, bits of `restart`): register first, with the arguments after
 * the program's name; `cwd` (the working directory to run in); `env`
 * (changes to the environment: `NAME = "value"` sets, `NAME = false`
 * removes)
 * @treturn[1] nil never returns on success
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2: the program was not found)
 */
static int l_exec(lua_State *L) {
  size_t argc;
  const char **argv;
  char path[4096], msg[RM_PROCESS_MSG_SIZE];
  unsigned rc;
  int reg = 0;
  lua_Integer flags = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "cwd");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(L, 2, "bad field 'cwd' (string expected)");
    lua_getfield(L, 2, "env");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
      return luaL_argerror(L, 2, "bad field 'env' (table expected)");
    if (lua_istable(L, -1)) {
      /* checked whole before anything is changed */
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        size_t len;
        const char *k;
        if (lua_type(L, -2) != LUA_TSTRING ||
            (lua_type(L, -1) != LUA_TSTRING &&
             !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))))
          return luaL_argerror(L, 2, "bad field 'env' (NAME = \"value\" or "
                                     "NAME = false expected)");
        k = lua_tolstring(L, -2, &len);
        if (len == 0 || strchr(k, '=') || strlen(k) != len ||
            (lua_type(L, -1) == LUA_TSTRING &&
             strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1)))
          return luaL_argerror(L, 2, "bad field 'env' (bad name or value)");
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 2);
    lua_getfield(L, 2, "register_restart");
    if (lua_istable(L, -1)) {
      reg = 1;
      lua_getfield(L, -1, "flags");
      if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || (lua_tointeger(L, -1) & ~0xF) != 0)
          return luaL_argerror(L, 2, "bad field 'register_restart.flags' "
                                     "(bits of restartmanager.core.restart "
                                     "expected)");
        flags = lua_tointeger(L, -1);
      }
      lua_pop(L, 1);
    } else if (lua_toboolean(L, -1)) {
      reg = 1;
    }
    lua_pop(L, 1);
  }
  argv = string_array(L, 1, "argv", &argc, 0);
  luaL_argcheck(L, argc > 0, 1, "the program is missing");
  if (lua_istable(L, 2)) {
    const char *cwd;
    lua_getfield(L, 2, "cwd");
    cwd = lua_tostring(L, -1);
    if (cwd) {
      rc = rm_process_chdir(cwd, msg);
      if (rc != RM_OK) return rm_push_failure(L, rc, msg);
    }
    lua_pop(L, 1);
    lua_getfield(L, 2, "env");
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        rc = rm_process_setenv(lua_tostring(L, -2),
                               lua_type(L, -1) == LUA_TSTRING
                                   ? lua_tostring(L, -1)
                                   : NULL,
                               msg);
        if (rc != RM_OK) return rm_push_failure(L, rc, msg);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  rc = rm_process_find(argv[0], path, sizeof path, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
#ifndef _WIN32
  if (reg) {
    rc = rm_native_restart_register_as(path, argc - 1, argv + 1,
                                       (uint32_t)flags);
    if (rc != RM_OK)
      return rm_push_failure(L, rc, "cannot record the restart registration");
  }
#else
  (void)reg;
  (void)flags;
#endif
  rc = rm_process_exec(path, argc, argv, msg);
#ifndef _WIN32
  if (reg) (void)rm_backend_unregister_restart();
#endif
  return rm_push_failure(L, rc, msg);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_strings(lua_State *L, const char *k, char **v, size_t n) {
  size_t i;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_pushstring(L, v[i]);
    lua_rawseti(L, -2, (lua_Integer)(i + 1));
  }
  lua_setfield(L, -2, k);
}

static const char *str_field(lua_State *L, int t, const char *k) {
  const char *s;
  size_t len;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "bad field '%s' of the capture (string expected, got %s)",
               k, luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len)
    luaL_error(L, "bad field '%s' of the capture (no '\\0' allowed)", k);
  lua_pop(L, 1); /* still referenced by the table */
  return s;
}

static int bool_field(lua_State *L, int t, const char *k) {
  int v;
  lua_getfield(L, t, k);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* The process argument of capture: a pid, or {pid=, start_time=}. */
static void process_arg(lua_State *L, rm_unique_process *p) {
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "pid");
    lua_getfield(L, 1, "start_time");
    if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1))
      luaL_argerror(L, 1, "{pid=, start_time=} expected");
    p->pid = (uint32_t)lua_tointeger(L, -2);
    p->start_time = (uint64_t)lua_tointeger(L, -1);
    luaL_argcheck(L, lua_tointeger(L, -2) > 0 &&
                     lua_tointeger(L, -2) <= (lua_Integer)UINT32_MAX,
                  1, "pid must be a positive pid");
    lua_pop(L, 2);
  } else {
    lua_Integer pid = luaL_checkinteger(L, 1);
    luaL_argcheck(L, pid > 0 && pid <= (lua_Integer)UINT32_MAX, 1,
                  "pid must be a positive pid");
    p->pid = (uint32_t)pid;
  }
}

#ifndef _WIN32

/* A capture, with the malloc'd parts freed by __gc should a Lua error
 * interrupt the conversion. */
static int capture_gc(lua_State *L) {
  rm_native_capture_free((rm_native_capture *)lua_touserdata(L, 1));
  return 0;
}

/***
 * What restarting a process needs, read now: before it is stopped. Linux:
 * the fields below. Windows: read from the live process (its parameters,
 * checked to be the very process), `pid`, `start_time`, `ppid` (its
 * creator's pid, which Windows does not reparent), `executable`, `cwd`,
 * `command_line` (one string, as the process has it), `argv` (that line as
 * `CommandLineToArgvW` splits it), `env` (the "=C:=C:\dir" ones included),
 * `console` (a console program), `user` (its SID), `elevated`,
 * `other_user` (not the caller's user), `would_elevate` (the caller is
 * elevated and it was not); a process of another bitness than the module
 * is refused (50). See docs/windows.md.
 * @function capture
 * @tparam integer|table process a pid, or `{pid=, start_time=}` (then
 * only that very process)
 * @treturn[1] table `pid`, `start_time`, `ppid`, `executable` (without
 * " (deleted)"), `executable_replaced` (the file it runs was replaced or
 * removed), `cwd`, `argv` (array, `argv[1]` as the process was started),
 * `env` (array of "NAME=value"), `uid`, `euid`, `gid`, `egid`, `groups`,
 * `unit` and `user_unit` (its systemd unit, and whether a user's manager
 * runs it), `app_id` (its desktop application id, from an app-*.scope or
 * app-*.service unit), `setid` (set-user-ID or set-group-ID executable, or
 * effective ids that differ from the real ones), `other_pid_namespace`,
 * `other_mount_namespace`, `tty` (field tty_nr of its stat: 0 when it has
 * no controlling terminal), `terminal` (whether it has one),
 * `interactive` (its standard input, output or error is that terminal:
 * someone may be working in it)
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2: no such process, 5: not
 * allowed to read it)
 */
static int l_capture(lua_State *L) {
  rm_unique_process p = {0, 0};
  rm_native_capture *c;
  char msg[RM_NATIVE_MSG_SIZE];
  unsigned rc;
  size_t i;
  process_arg(L, &p);
  c = (rm_native_capture *)lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, capture_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  rc = rm_native_capture_take(&p, c, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  lua_createtable(L, 0, 24);
  set_int(L, "pid", (lua_Integer)c->process.pid);
  set_int(L, "start_time", (lua_Integer)c->process.start_time);
  set_int(L, "ppid", (lua_Integer)c->ppid);
  set_str(L, "executable", c->exe);
  set_bool(L, "executable_replaced", c->exe_deleted);
  set_str(L, "cwd", c->cwd);
  set_strings(L, "argv", c->argv, c->argc);
  set_strings(L, "env", c->envp, c->envc);
  set_int(L, "uid", c->uid);
  set_int(L, "euid", c->euid);
  set_int(L, "gid", c->gid);
  set_int(L, "egid", c->egid);
  lua_createtable(L, (int)c->ngroups, 0);
  for (i = 0; i < c->ngroups; i++) {
    lua_pushinteger(L, c->groups[i]);
    lua_rawseti(L, -2, (lua_Integer)(i + 1));
  }
  lua_setfield(L, -2, "groups");
  if (c->unit[0]) {
    set_str(L, "unit", c->unit);
    set_bool(L, "user_unit", c->user_unit);
  }
  if (c->app_id[0]) set_str(L, "app_id", c->app_id);
  set_bool(L, "setid", c->setid);
  set_bool(L, "other_pid_namespace", c->other_pidns);
  set_bool(L, "other_mount_namespace", c->other_mntns);
  set_int(L, "tty", c->tty_nr);
  set_bool(L, "terminal", c->tty_nr != 0);
  set_bool(L, "interactive", c->interactive);
  rm_native_capture_free(c);
  return 1;
}

static lua_Integer int_field(lua_State *L, int t, const char *k,
                             lua_Integer lo, lua_Integer hi) {
  lua_Integer v = 0;
  lua_getfield(L, t, k);
  if (!lua_isinteger(L, -1) || (v = lua_tointeger(L, -1)) < lo || v > hi)
    luaL_error(L, "bad field '%s' of the capture (integer expected)", k);
  lua_pop(L, 1);
  return v;
}

static const char *const via_names[] = {NULL, "user_manager", "cgroup",
                                        "detached"};

/* The launch a capture table at t describes; the strings stay referenced
 * by the table, the arrays are userdata pushed on the stack. */
static void launch_of(lua_State *L, int t, rm_native_relaunch *l) {
  size_t n, ngroups, i;
  uint32_t *groups;
  l->exe = str_field(L, t, "executable");
  l->cwd = str_field(L, t, "cwd");
  l->uid = (uint32_t)int_field(L, t, "uid", 0, 0xFFFFFFFEll);
  l->gid = (uint32_t)int_field(L, t, "gid", 0, 0xFFFFFFFEll);
  if (!l->name) {
    lua_getfield(L, t, "app_id");
    l->name = lua_tostring(L, -1);
    lua_pop(L, 1); /* a string of the table: stays alive */
  }
  lua_getfield(L, t, "argv");
  l->argv = (char *const *)string_array(L, lua_gettop(L), "argv", &n, 0);
  if (n == 0) luaL_error(L, "bad field 'argv' of the capture (empty)");
  lua_getfield(L, t, "env");
  l->envp = (char *const *)string_array(L, lua_gettop(L), "env", &n, 1);
  lua_getfield(L, t, "groups");
  luaL_checktype(L, -1, LUA_TTABLE);
  ngroups = (size_t)lua_rawlen(L, -1);
  if (ngroups > 65536) luaL_error(L, "bad field 'groups' (too many)");
  groups = (uint32_t *)lua_newuserdatauv(L, (ngroups + 1) * sizeof *groups, 0);
  for (i = 0; i < ngroups; i++) {
    lua_Integer g = 0;
    lua_rawgeti(L, -2, (lua_Integer)(i + 1));
    if (!lua_isinteger(L, -1) || (g = lua_tointeger(L, -1)) < 0 ||
        g > 0xFFFFFFFEll)
      luaL_error(L, "bad field 'groups' (group ids expected)");
    groups[i] = (uint32_t)g;
    lua_pop(L, 1);
  }
  l->groups = groups;
  l->ngroups = ngroups;
}

/***
 * Whether a captured program runs again: a live process of the same user
 * running the same executable with the same arguments (the captured
 * process itself, when it was not stopped after all). On Windows: of the
 * caller's user, the same executable (without regard to case) and the same
 * command line, the caller excepted.
 * @function running_again
 * @tparam table capture as `capture` gave it
 * @treturn integer|nil its pid, or nil
 */
static int l_running_again(lua_State *L) {
  rm_native_relaunch l;
  uint32_t pid = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(&l, 0, sizeof l);
  launch_of(L, 1, &l);
  if (rm_native_find_running(l.exe, l.argv, l.uid, NULL, &pid) == RM_OK &&
      pid != 0)
    lua_pushinteger(L, (lua_Integer)pid);
  else
    lua_pushnil(L);
  return 1;
}

/***
 * Starts a captured program again. On Windows: `CreateProcessW` with the
 * captured executable, command line (as is), directory and environment, a
 * console program in a console of its own, out of the caller's job when it
 * may be left, unless it runs again (`running_again`: then its pid and
 * "running"); refused (5) for another user's process or one that was not
 * elevated when the caller is; `via` only "command", no `command`; the
 * results: the pid, "detached", and why it stayed in the caller's job when
 * it did. On Linux: as the captured user, group and
 * groups, with the captured arguments, environment and working directory,
 * never with the caller's privileges, and so that it outlives the caller:
 * as a transient service of the user's own systemd manager when its
 * environment names one (`XDG_RUNTIME_DIR`), else detached and moved into
 * a cgroup beside the caller's (`restartmanager-restarted`) when the caller
 * may create one, else detached only.
 *
 * Refused (code 5): a set-ID executable (as captured, or as the file is
 * now), a process of another PID or mount namespace (with "unit": of
 * another PID namespace; a service's own mount namespace is systemd's to
 * make again), a process with a controlling terminal. Nothing is started when the program runs again
 * (see `running_again`): then the result is its pid and "running".
 * @function restart_captured
 * @tparam table capture as `capture` gave it
 * @tparam[opt] table opts `via`: "command" (default: the captured command
 * line), or "unit" (start the captured systemd service unit with
 * systemctl, in the user's manager for a user unit; waits for the start
 * job); `command` (with "command": an array that runs instead of the
 * captured command line, as the captured user, e.g. a desktop launcher);
 * `manager` (default true: false never uses the user's systemd manager);
 * `name` (names the transient unit)
 * @treturn[1] integer the pid of the program (0 when a manager started it
 * and did not say)
 * @treturn[1] string how: "user_manager", "cgroup", "detached", "unit" or
 * "running"
 * @treturn[1] string|nil why the user's manager was not used, when it was
 * tried and failed
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (5: refused, 352: could not start)
 */
static int l_restart_captured(lua_State *L) {
  static const char *const vias[] = {"command", "unit", NULL};
  rm_native_relaunch l;
  uint32_t pid = 0;
  char msg[RM_NATIVE_MSG_SIZE];
  struct stat st;
  unsigned rc;
  int via = 0, how = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&l, 0, sizeof l);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "manager");
    l.no_manager = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_getfield(L, 2, "name");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(L, 2, "bad field 'name' (string expected)");
    l.name = lua_tostring(L, -1);
    lua_getfield(L, 2, "via");
    via = luaL_checkoption(L, -1, "command", vias);
    lua_getfield(L, 2, "command");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
      return luaL_argerror(L, 2, "bad field 'command' (table expected)");
    lua_pop(L, 4);
  }
  lua_settop(L, 2);
  launch_of(L, 1, &l);
  if (bool_field(L, 1, "setid"))
    return rm_push_failure(L, RM_E_ACCESS_DENIED,
                     "a set-user-ID or set-group-ID program is never "
                     "restarted from a capture");
  /* a unit's own sandbox (a mount namespace of its own) is made again by
   * systemd; another PID namespace is a container's */
  if (bool_field(L, 1, "other_pid_namespace") ||
      (via != 1 && bool_field(L, 1, "other_mount_namespace")))
    return rm_push_failure(L, RM_E_ACCESS_DENIED,
                     "a process of another PID or mount namespace (a "
                     "container) is never restarted from a capture");
  if (bool_field(L, 1, "terminal"))
    return rm_push_failure(L, RM_E_ACCESS_DENIED,
                     "a program with a controlling terminal is never "
                     "restarted from a capture: it cannot get its terminal "
                     "back");
  if (stat(l.exe, &st) != 0) {
    snprintf(msg, sizeof msg, "'%s' is gone", l.exe);
    return rm_push_failure(L, RM_E_FILE_NOT_FOUND, msg);
  }
  if ((st.st_mode & S_ISUID) ||
      ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))) {
    snprintf(msg, sizeof msg,
             "'%s' is now set-user-ID or set-group-ID: never restarted "
             "from a capture", l.exe);
    return rm_push_failure(L, RM_E_ACCESS_DENIED, msg);
  }
  rc = rm_native_find_running(l.exe, l.argv, l.uid, NULL, &pid);
  if (rc == RM_OK && pid != 0) {
    lua_pushinteger(L, (lua_Integer)pid);
    lua_pushliteral(L, "running");
    return 2;
  }
  if (via == 1) {
    const char *unit;
    lua_getfield(L, 1, "unit");
    unit = lua_tostring(L, -1);
    if (!unit) return rm_push_failure(L, RM_E_BAD_ARGUMENTS,
                                "the capture names no systemd unit");
    rc = rm_native_start_unit(&l, unit, bool_field(L, 1, "user_unit"), &pid,
                              msg);
    if (rc != RM_OK) return rm_push_failure(L, rc, msg);
    lua_pushinteger(L, (lua_Integer)pid);
    lua_pushliteral(L, "unit");
    return 2;
  }
  if (lua_istable(L, 2)) lua_getfield(L, 2, "command");
  else lua_pushnil(L);
  if (lua_istable(L, -1)) {
    size_t n;
    l.argv = (char *const *)string_array(L, lua_gettop(L), "command", &n, 0);
    if (n == 0 || l.argv[0][0] != '/')
      return luaL_argerror(L, 2, "bad field 'command' (an absolute program "
                                 "first)");
    l.exe = l.argv[0];
  }
  rc = rm_native_relaunch_start(&l, &pid, &how, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  lua_pushinteger(L, (lua_Integer)pid);
  lua_pushstring(L, via_names[how]);
  if (msg[0]) {
    lua_pushstring(L, msg);
    return 3;
  }
  return 2;
}

#else /* _WIN32 */

/* A capture, with the malloc'd parts freed by __gc should a Lua error
 * interrupt the conversion. */
static int capture_gc(lua_State *L) {
  rm_win_capture_free((rm_win_capture *)lua_touserdata(L, 1));
  return 0;
}

/* capture on Windows (documented above): read from the live process by
 * windows/capture.c, refused (nil, message, code) when it cannot be read
 * whole: 2 no such process, 5 not allowed, 50 another bitness. */
static int l_capture(lua_State *L) {
  rm_unique_process p = {0, 0};
  rm_win_capture *c;
  char msg[RM_WIN_CAPTURE_MSG_SIZE];
  unsigned rc;
  process_arg(L, &p);
  c = (rm_win_capture *)lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, capture_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  rc = rm_win_capture_take(&p, c, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  lua_createtable(L, 0, 12);
  set_int(L, "pid", (lua_Integer)c->process.pid);
  set_int(L, "start_time", (lua_Integer)c->process.start_time);
  set_int(L, "ppid", (lua_Integer)c->ppid);
  set_str(L, "executable", c->exe);
  set_str(L, "cwd", c->cwd);
  set_str(L, "command_line", c->line);
  set_strings(L, "argv", c->argv, c->argc);
  set_strings(L, "env", c->envp, c->envc);
  set_bool(L, "console", c->console);
  set_str(L, "user", c->user);
  set_bool(L, "elevated", c->elevated);
  set_bool(L, "other_user", c->other_user);
  set_bool(L, "would_elevate", c->would_elevate);
  rm_win_capture_free(c);
  return 1;
}

/* restart_captured on Windows (documented above): CreateProcessW through
 * windows/capture.c, after the refusals that keep the program from getting
 * another user's or more rights than it had. */
static int l_restart_captured(lua_State *L) {
  static const char *const vias[] = {"command", NULL};
  rm_win_relaunch l;
  const char *user;
  char *me = NULL;
  char msg[RM_WIN_CAPTURE_MSG_SIZE], note[RM_WIN_CAPTURE_MSG_SIZE];
  WCHAR *wexe;
  DWORD attrs;
  uint32_t pid = 0;
  unsigned rc = RM_OK;
  int me_elevated = 0, same;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "via");
    luaL_checkoption(L, -1, "command", vias);
    lua_getfield(L, 2, "command");
    if (!lua_isnil(L, -1))
      return luaL_argerror(L, 2, "bad field 'command' (not on Windows)");
    lua_pop(L, 2);
  }
  lua_settop(L, 1);
  memset(&l, 0, sizeof l);
  l.exe = str_field(L, 1, "executable");
  l.line = str_field(L, 1, "command_line");
  l.cwd = str_field(L, 1, "cwd");
  user = str_field(L, 1, "user");
  l.console = bool_field(L, 1, "console");
  lua_getfield(L, 1, "env");
  l.envp = string_array(L, lua_gettop(L), "env", &l.envc, 2);
  rc = rm_win_caller_user(&me, &me_elevated);
  if (rc != RM_OK)
    return rm_push_failure(L, rc, "cannot read the caller's own user");
  same = strcmp(me, user) == 0;
  free(me);
  if (!same)
    return rm_push_failure(L, RM_E_ACCESS_DENIED,
                     "a process of another user is never restarted from a "
                     "capture: it would run as the caller");
  if (me_elevated && !bool_field(L, 1, "elevated"))
    return rm_push_failure(L, RM_E_ACCESS_DENIED,
                     "a process that was not elevated is never restarted "
                     "from an elevated caller's capture: it would get the "
                     "caller's rights");
  wexe = rm_win_to_wide(l.exe, &rc);
  if (!wexe)
    return luaL_error(L, "bad field 'executable' of the capture (UTF-8 "
                         "expected)");
  attrs = GetFileAttributesW(wexe);
  free(wexe);
  if (attrs == INVALID_FILE_ATTRIBUTES ||
      (attrs & FILE_ATTRIBUTE_DIRECTORY)) {
    snprintf(msg, sizeof msg, "'%s' is gone", l.exe);
    return rm_push_failure(L, RM_E_FILE_NOT_FOUND, msg);
  }
  if (rm_win_find_running(l.exe, l.line, &pid) == RM_OK && pid != 0) {
    lua_pushinteger(L, (lua_Integer)pid);
    lua_pushliteral(L, "running");
    return 2;
  }
  rc = rm_win_relaunch_start(&l, &pid, note, msg);
  if (rc != RM_OK) return rm_push_failure(L, rc, msg);
  lua_pushinteger(L, (lua_Integer)pid);
  lua_pushliteral(L, "detached");
  if (note[0]) {
    lua_pushstring(L, note);
    return 3;
  }
  return 2;
}

/* running_again on Windows (documented above). */
static int l_running_again(lua_State *L) {
  const char *exe, *line;
  uint32_t pid = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  exe = str_field(L, 1, "executable");
  line = str_field(L, 1, "command_line");
  if (rm_win_find_running(exe, line, &pid) == RM_OK && pid != 0)
    lua_pushinteger(L, (lua_Integer)pid);
  else
    lua_pushnil(L);
  return 1;
}

#endif

static const luaL_Reg restart_functions[] = {
  {"exec", l_exec},
  {"capture", l_capture},
  {"restart_captured", l_restart_captured},
  {"running_again", l_running_again},
  {NULL, NULL}};

void rm_open_restart(lua_State *L) {
  luaL_setfuncs(L, restart_functions, 0);
}
