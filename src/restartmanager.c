/***
 * restartmanager.core: the Restart Manager, one call for one call.
 *
 * The same API on Windows (a binding of rstrtmgr.dll) and on Linux (a native
 * implementation). Misuse raises; a failed operation returns
 * `nil, message, code` with `code` the Win32 error number on both platforms.
 *
 * @module restartmanager.core
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "lua.h"
#include "lauxlib.h"

#include "backend.h"
#include "binding.h"

#if LUA_VERSION_NUM < 504
#error "restartmanager needs Lua 5.4"
#endif

#ifdef _WIN32
#define RM_EXPORT __declspec(dllexport)
#else
#define RM_EXPORT __attribute__((visibility("default")))
#endif

#define RM_VERSION "0.1.0"
#define SESSION_MT "restartmanager.Session"

/* Bounds on what one call may ask for, so that a bad argument is an error
 * message rather than an allocation the size of the address space. */
#define MAX_CAPACITY 1000000
#define MAX_ITEMS 10000000

/* A session handle. An operation that may run Lua code while the backend
 * works on the session (a progress function, and through it any finalizer)
 * holds it in use: ending the handle meanwhile (end_session, __close, __gc,
 * from that code) only marks it closed, and the last operation to return
 * ends the backend's session. The backend's session is never freed under an
 * operation that runs on it. */
typedef struct Session {
  rm_session *s; /* NULL once ended */
  int primary;
  int closed;    /* ended by its user; s is ended once in_use drops to 0 */
  int in_use;    /* operations running on s */
  char key[RM_KEY_LEN + 1];
} Session;

/* ---------------------------------------------------------------------
 * Constants
 * ------------------------------------------------------------------- */

typedef struct Const {
  const char *name;
  lua_Integer value;
} Const;

/***
 * Application types (`RM_APP_TYPE`), the `type` of a listed app. Names map
 * to numbers and numbers back to names (`core.app_type.service` is 3,
 * `core.app_type[3]` is `"service"`).
 * @table app_type
 * @field unknown 0
 * @field main_window 1
 * @field other_window 2
 * @field service 3
 * @field explorer 4
 * @field console 5
 * @field critical 1000
 */
static const Const app_types[] = {
  {"unknown", RM_APP_UNKNOWN},       {"main_window", RM_APP_MAIN_WINDOW},
  {"other_window", RM_APP_OTHER_WINDOW}, {"service", RM_APP_SERVICE},
  {"explorer", RM_APP_EXPLORER},     {"console", RM_APP_CONSOLE},
  {"critical", RM_APP_CRITICAL},     {NULL, 0}};

/***
 * Application status bits (`RM_APP_STATUS`), or-ed in a listed app's
 * `status`. Names map to numbers and numbers back to names
 * (`core.app_status.stopped` is 2, `core.app_status[2]` is `"stopped"`).
 * @table app_status
 * @field unknown 0
 * @field running 1
 * @field stopped 2
 * @field stopped_other 4
 * @field restarted 8
 * @field error_on_stop 16
 * @field error_on_restart 32
 * @field shutdown_masked 64
 * @field restart_masked 128
 */
static const Const app_statuses[] = {
  {"unknown", RM_STATUS_UNKNOWN},
  {"running", RM_STATUS_RUNNING},
  {"stopped", RM_STATUS_STOPPED},
  {"stopped_other", RM_STATUS_STOPPED_OTHER},
  {"restarted", RM_STATUS_RESTARTED},
  {"error_on_stop", RM_STATUS_ERROR_ON_STOP},
  {"error_on_restart", RM_STATUS_ERROR_ON_RESTART},
  {"shutdown_masked", RM_STATUS_SHUTDOWN_MASKED},
  {"restart_masked", RM_STATUS_RESTART_MASKED},
  {NULL, 0}};

/***
 * Reboot reason bits (`RM_REBOOT_REASON`) that `get_list` reports. Names map
 * to numbers and numbers back to names (`core.reboot_reason.detected_self`
 * is 16, `core.reboot_reason[16]` is `"detected_self"`).
 * @table reboot_reason
 * @field none 0
 * @field permission_denied 1
 * @field session_mismatch 2
 * @field critical_process 4
 * @field critical_service 8
 * @field detected_self 16
 */
static const Const reboot_reasons[] = {
  {"none", RM_REBOOT_NONE},
  {"permission_denied", RM_REBOOT_PERMISSION_DENIED},
  {"session_mismatch", RM_REBOOT_SESSION_MISMATCH},
  {"critical_process", RM_REBOOT_CRITICAL_PROCESS},
  {"critical_service", RM_REBOOT_CRITICAL_SERVICE},
  {"detected_self", RM_REBOOT_DETECTED_SELF},
  {NULL, 0}};

/***
 * Shutdown flags (`RM_SHUTDOWN_TYPE`) for `Session:shutdown`. Names map to
 * numbers and numbers back to names (`core.shutdown.force` is 1,
 * `core.shutdown[1]` is `"force"`).
 * @table shutdown
 * @field force 1: kill what does not stop
 * @field only_registered 16: stop nothing unless every app can be restarted
 */
static const Const shutdown_flags[] = {
  {"force", RM_SHUTDOWN_FORCE},
  {"only_registered", RM_SHUTDOWN_ONLY_REGISTERED},
  {NULL, 0}};

/***
 * Filter actions (`RM_FILTER_ACTION`) for `Session:add_filter`. Names map to
 * numbers and numbers back to names (`core.filter_action.no_shutdown` is 2,
 * `core.filter_action[2]` is `"no_shutdown"`).
 * @table filter_action
 * @field invalid 0
 * @field no_restart 1
 * @field no_shutdown 2
 */
static const Const filter_actions[] = {
  {"invalid", RM_FILTER_ACTION_INVALID},
  {"no_restart", RM_FILTER_NO_RESTART},
  {"no_shutdown", RM_FILTER_NO_SHUTDOWN},
  {NULL, 0}};

/***
 * Restart registration flags (`RESTART_NO_*`) for
 * `register_application_restart`. Names map to numbers and numbers back to
 * names (`core.restart.no_crash` is 1, `core.restart[1]` is `"no_crash"`).
 * @table restart
 * @field no_crash 1
 * @field no_hang 2
 * @field no_patch 4
 * @field no_reboot 8
 */
static const Const restart_flags[] = {
  {"no_crash", RM_RESTART_NO_CRASH}, {"no_hang", RM_RESTART_NO_HANG},
  {"no_patch", RM_RESTART_NO_PATCH}, {"no_reboot", RM_RESTART_NO_REBOOT},
  {NULL, 0}};

/***
 * The Win32 error codes the library returns, on every platform. Names map to
 * numbers and numbers back to names (`core.error.ERROR_CANCELLED` is 1223,
 * `core.error[1223]` is `"ERROR_CANCELLED"`).
 * @table error
 * @field ERROR_SUCCESS 0
 * @field ERROR_FILE_NOT_FOUND 2
 * @field ERROR_TOO_MANY_OPEN_FILES 4
 * @field ERROR_ACCESS_DENIED 5
 * @field ERROR_INVALID_HANDLE 6
 * @field ERROR_OUTOFMEMORY 14
 * @field ERROR_WRITE_FAULT 29
 * @field ERROR_INVALID_PARAMETER 87
 * @field ERROR_SEM_TIMEOUT 121
 * @field ERROR_BAD_ARGUMENTS 160
 * @field ERROR_BUSY 170
 * @field ERROR_MORE_DATA 234
 * @field ERROR_FAIL_NOACTION_REBOOT 350
 * @field ERROR_FAIL_SHUTDOWN 351
 * @field ERROR_FAIL_RESTART 352
 * @field ERROR_MAX_SESSIONS_REACHED 353
 * @field ERROR_REQUEST_OUT_OF_SEQUENCE 776
 * @field ERROR_SESSION_CREDENTIAL_CONFLICT 1219
 * @field ERROR_CANCELLED 1223
 */
static const Const errors[] = {
  {"ERROR_SUCCESS", RM_OK},
  {"ERROR_INVALID_FUNCTION", RM_E_INVALID_FUNCTION},
  {"ERROR_FILE_NOT_FOUND", RM_E_FILE_NOT_FOUND},
  {"ERROR_TOO_MANY_OPEN_FILES", RM_E_TOO_MANY_OPEN_FILES},
  {"ERROR_ACCESS_DENIED", RM_E_ACCESS_DENIED},
  {"ERROR_INVALID_HANDLE", RM_E_INVALID_HANDLE},
  {"ERROR_OUTOFMEMORY", RM_E_OUTOFMEMORY},
  {"ERROR_NOT_SUPPORTED", RM_E_NOT_SUPPORTED},
  {"ERROR_INVALID_PARAMETER", RM_E_INVALID_PARAMETER},
  {"ERROR_WRITE_FAULT", RM_E_WRITE_FAULT},
  {"ERROR_SEM_TIMEOUT", RM_E_SEM_TIMEOUT},
  {"ERROR_BAD_ARGUMENTS", RM_E_BAD_ARGUMENTS},
  {"ERROR_BUSY", RM_E_BUSY},
  {"ERROR_MORE_DATA", RM_E_MORE_DATA},
  {"ERROR_FAIL_NOACTION_REBOOT", RM_E_FAIL_NOACTION_REBOOT},
  {"ERROR_FAIL_SHUTDOWN", RM_E_FAIL_SHUTDOWN},
  {"ERROR_FAIL_RESTART", RM_E_FAIL_RESTART},
  {"ERROR_MAX_SESSIONS_REACHED", RM_E_MAX_SESSIONS_REACHED},
  {"ERROR_REQUEST_OUT_OF_SEQUENCE", RM_E_REQUEST_OUT_OF_SEQUENCE},
  {"ERROR_SESSION_CREDENTIAL_CONFLICT", RM_E_SESSION_CREDENTIAL_CONFLICT},
  {"ERROR_CANCELLED", RM_E_CANCELLED},
  {NULL, 0}};

static const char *const kinds[] = {"file", "process", "service", NULL};
static const int kind_triggers[] = {RM_FILTER_TRIGGER_FILE,
                                    RM_FILTER_TRIGGER_PROCESS,
                                    RM_FILTER_TRIGGER_SERVICE};
static const char *const actions[] = {"no_restart", "no_shutdown", NULL};
static const int action_values[] = {RM_FILTER_NO_RESTART,
                                    RM_FILTER_NO_SHUTDOWN};

static const char *const_name(const Const *c, lua_Integer v) {
  for (; c->name; c++)
    if (c->value == v) return c->name;
  return NULL;
}

/* A table that maps names to numbers and numbers to names. */
static void push_consts(lua_State *L, const Const *c) {
  lua_newtable(L);
  for (; c->name; c++) {
    lua_pushinteger(L, c->value);
    lua_setfield(L, -2, c->name);
    lua_pushstring(L, c->name);
    lua_rawseti(L, -2, c->value);
  }
}

/* ---------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------- */

/* Pushes "NAME (code): text"; text NULL: the backend's description. */
static void push_error_message(lua_State *L, unsigned code,
                               const char *text) {
  char buf[512];
  const char *name = const_name(errors, (lua_Integer)code);
  if (!text) {
    rm_backend_error_text(code, buf, sizeof buf);
    text = buf;
  }
  if (name)
    lua_pushfstring(L, "%s (%d): %s", name, (int)code, text);
  else
    lua_pushfstring(L, "error %d: %s", (int)code, text);
}

/* The failure triple: nil, message, code (binding.h). */
int rm_push_failure(lua_State *L, unsigned code, const char *text) {
  luaL_pushfail(L);
  push_error_message(L, code, text);
  lua_pushinteger(L, (lua_Integer)code);
  return 3;
}

static int push_failure(lua_State *L, unsigned code) {
  return rm_push_failure(L, code, NULL);
}

static int push_result(lua_State *L, unsigned code) {
  if (code != RM_OK) return push_failure(L, code);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---------------------------------------------------------------------
 * Argument helpers
 * ------------------------------------------------------------------- */

static int argerror_at(lua_State *L, int arg, lua_Integer i,
                       const char *expected, int got) {
  return luaL_argerror(
      L, arg,
      lua_pushfstring(L, "%s expected at index %I, got %s", expected, i,
                      luaL_typename(L, got)));
}

/* 1 when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF). */
int rm_valid_utf8(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i], n, cp, k;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return 0;
    if (len - i <= n) return 0;
    for (k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return 0;
    i += n + 1;
  }
  return 1;
}

/* A string without embedded zeros (and valid UTF-8 where the backend needs
 * it), from the value at idx. */
static const char *check_cstring(lua_State *L, int idx, int arg,
                                 lua_Integer i) {
  size_t len;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING) {
    if (i > 0) argerror_at(L, arg, i, "string", idx);
    luaL_typeerror(L, arg, "string");
  }
  s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len) {
    if (i > 0)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "string at index %I contains a zero "
                                       "byte", i));
    luaL_argerror(L, arg, "string contains a zero byte");
  }
  if (rm_backend_needs_utf8 && !rm_valid_utf8((const unsigned char *)s, len)) {
    if (i > 0)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "string at index %I is not valid "
                                       "UTF-8", i));
    luaL_argerror(L, arg, "string is not valid UTF-8");
  }
  return s;
}

/* The length of the array at arg, which must be a table or nil (0). */
static lua_Integer check_array(lua_State *L, int arg) {
  lua_Integer n;
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  n = luaL_len(L, arg);
  luaL_argcheck(L, n >= 0 && n <= MAX_ITEMS, arg, "array too large");
  return n;
}

/* A block of Lua-owned memory, left on the stack. */
static void *scratch(lua_State *L, size_t n) {
  return lua_newuserdatauv(L, n ? n : 1, 0);
}

/* A malloc'd pid array held by a userdata while it is copied into Lua, so
 * that an allocation error there leaks nothing. */
#define PIDBOX_MT "restartmanager.pids"
typedef struct PidBox {
  uint32_t *pids;
} PidBox;

static int pidbox_gc(lua_State *L) {
  PidBox *b = (PidBox *)lua_touserdata(L, 1);
  free(b->pids);
  b->pids = NULL;
  return 0;
}

static PidBox *new_pidbox(lua_State *L) {
  PidBox *b = (PidBox *)lua_newuserdatauv(L, sizeof *b, 0);
  b->pids = NULL;
  if (luaL_newmetatable(L, PIDBOX_MT)) {
    lua_pushcfunction(L, pidbox_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* {pid=, start_time=} at idx into *p (binding.h). */
void rm_check_process(lua_State *L, int idx, int arg, lua_Integer i,
                      rm_unique_process *p) {
  lua_Integer pid, st;
  int ok1, ok2;
  if (!lua_istable(L, idx)) {
    if (i > 0) argerror_at(L, arg, i, "process table", idx);
    luaL_typeerror(L, arg, "process table");
  }
  lua_getfield(L, idx, "pid");
  lua_getfield(L, idx < 0 ? idx - 1 : idx, "start_time");
  pid = lua_tointegerx(L, -2, &ok1);
  st = lua_tointegerx(L, -1, &ok2);
  lua_pop(L, 2);
  if (!ok1 || pid < 0 || pid > (lua_Integer)UINT32_MAX)
    luaL_argerror(L, arg,
                  i > 0 ? lua_pushfstring(L, "pid must be an integer from 0 "
                                             "to 4294967295 at index %I", i)
                        : "pid must be an integer from 0 to 4294967295");
  if (!ok2 || st < 0)
    luaL_argerror(L, arg,
                  i > 0 ? lua_pushfstring(L, "start_time must be a "
                                             "non-negative integer at index "
                                             "%I", i)
                        : "start_time must be a non-negative integer");
  p->pid = (uint32_t)pid;
  p->start_time = (uint64_t)st;
}

static void push_process(lua_State *L, const rm_unique_process *p) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)p->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, (lua_Integer)p->start_time);
  lua_setfield(L, -2, "start_time");
}

/* Array of strings at arg into a Lua-owned array of pointers (pushed,
 * with a table that anchors the strings: an __index metamethod may hand out
 * strings nothing else refers to, which a collection would free while the
 * pointers are still in use). */
static const char **check_string_array(lua_State *L, int arg, size_t *n) {
  lua_Integer i, len = check_array(L, arg);
  const char **v = (const char **)scratch(L, (size_t)len * sizeof *v);
  int anchor;
  if (len && !lua_getmetatable(L, arg)) {
    /* a plain table: its strings are its own, and nothing runs that could
     * change it while the pointers are in use */
    for (i = 1; i <= len; i++) {
      lua_rawgeti(L, arg, i);
      v[i - 1] = check_cstring(L, -1, arg, i);
      lua_pop(L, 1);
    }
    lua_pushnil(L); /* where the anchor would be */
    *n = (size_t)len;
    return v;
  }
  if (len) lua_pop(L, 1); /* the metatable */
  lua_createtable(L, len < 65536 ? (int)len : 65536, 0);
  anchor = lua_gettop(L);
  for (i = 1; i <= len; i++) {
    lua_geti(L, arg, i);
    v[i - 1] = check_cstring(L, -1, arg, i);
    lua_rawseti(L, anchor, i);
  }
  *n = (size_t)len;
  return v;
}

/* ---------------------------------------------------------------------
 * Session userdata
 * ------------------------------------------------------------------- */

static Session *to_session(lua_State *L) {
  return (Session *)luaL_checkudata(L, 1, SESSION_MT);
}

static Session *check_session(lua_State *L) {
  Session *u = to_session(L);
  if (u->s == NULL || u->closed) luaL_error(L, "session is closed");
  return u;
}

/* The backend session of u for an operation that has read its arguments:
 * reading them may have run Lua code (metamethods, finalizers run by an
 * allocation) that ended the handle, so it is looked at again here, after
 * the last step that can run Lua code and before the backend is called. */
static rm_session *live_session(lua_State *L, Session *u) {
  if (u->s == NULL || u->closed) luaL_error(L, "session is closed");
  return u->s;
}

/* Ends the backend session of u unless an operation still runs on it (the
 * last one ends it then). Returns the backend's answer, RM_OK when
 * deferred or already ended. */
static unsigned end_handle(Session *u) {
  rm_session *s = u->s;
  u->closed = 1;
  if (s == NULL || u->in_use > 0) return RM_OK;
  u->s = NULL;
  return rm_backend_end(s);
}

/* Marks u in use around a backend call that may run Lua code. */
static rm_session *hold(lua_State *L, Session *u) {
  rm_session *s = live_session(L, u);
  u->in_use++;
  return s;
}

static void release(Session *u) {
  if (--u->in_use == 0 && u->closed && u->s) {
    rm_session *s = u->s;
    u->s = NULL;
    (void)rm_backend_end(s);
  }
}

static Session *new_session(lua_State *L) {
  Session *u = (Session *)lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, SESSION_MT);
  return u;
}

/***
 * Starts a session; the caller becomes its primary installer (conductor).
 * At the limit of 64 sessions, handles of this state that were dropped
 * without being ended are collected first.
 * @function start_session
 * @tparam[opt] table opts `private` (boolean): a session nobody can join.
 * The native backend then keeps its registrations in this process and
 * never touches the session store; the Windows backend starts an ordinary
 * session.
 * @treturn[1] Session
 * @treturn[1] string the session key (32 characters)
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_start_session(lua_State *L) {
  char key[RM_KEY_LEN + 1];
  Session *u;
  unsigned rc, flags = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "private");
    if (!lua_isnil(L, -1)) {
      luaL_argexpected(L, lua_isboolean(L, -1), 1,
                       "boolean or nil in field 'private'");
      if (lua_toboolean(L, -1)) flags |= RM_START_PRIVATE;
    }
    lua_pop(L, 1);
  }
  u = new_session(L);
  memset(key, 0, sizeof key);
  rc = rm_backend_start(&u->s, key, flags);
  if (rc == RM_E_MAX_SESSIONS_REACHED) {
    /* handles dropped without end_session still count until collected:
     * collect them, and try once more */
    lua_gc(L, LUA_GCCOLLECT);
    rc = rm_backend_start(&u->s, key, flags);
  }
  if (rc != RM_OK) {
    u->s = NULL;
    return push_failure(L, rc);
  }
  u->primary = 1;
  memcpy(u->key, key, sizeof key);
  lua_pushstring(L, u->key);
  return 2;
}

/***
 * Joins a session by its key, as a secondary installer (subordinate).
 * @function join_session
 * @tparam string key
 * @treturn[1] Session
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (1219 for an unknown key)
 */
static int l_join_session(lua_State *L) {
  const char *key = check_cstring(L, 1, 1, 0);
  Session *u = new_session(L);
  unsigned rc = rm_backend_join(&u->s, key);
  if (rc != RM_OK) {
    u->s = NULL;
    return push_failure(L, rc);
  }
  u->primary = 0;
  /* only a key the backend accepted is kept, and it is 32 characters */
  strncpy(u->key, key, RM_KEY_LEN);
  u->key[RM_KEY_LEN] = '\0';
  return 1;
}

/***
 * Ends the session: a secondary leaves it, the primary destroys it. Also runs
 * on garbage collection and when a `<close>` variable goes out of scope.
 * Safe to call twice. Called while a shutdown or restart of this handle runs
 * (from its progress function), it answers true at once, the running
 * operation stops as if cancelled (1223) and the session ends when it
 * returns.
 * @function Session:end_session
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_end_session(lua_State *L) {
  Session *u = to_session(L);
  if (u->s == NULL || u->closed) {
    u->closed = 1;
    lua_pushboolean(L, 1);
    return 1;
  }
  return push_result(L, end_handle(u));
}

static int l_gc(lua_State *L) {
  (void)end_handle(to_session(L));
  return 0;
}

static int l_tostring(lua_State *L) {
  Session *u = to_session(L);
  if (u->s == NULL || u->closed)
    lua_pushfstring(L, "%s (closed)", SESSION_MT);
  else
    lua_pushfstring(L, "%s (%s, key %s)", SESSION_MT,
                    u->primary ? "primary" : "secondary", u->key);
  return 1;
}

/***
 * The session's key.
 * @function Session:key
 * @treturn string
 */
static int l_key(lua_State *L) {
  Session *u = check_session(L);
  lua_pushstring(L, u->key);
  return 1;
}

/***
 * Whether this handle started the session (true) or joined it (false).
 * @function Session:is_primary
 * @treturn boolean
 */
static int l_is_primary(lua_State *L) {
  Session *u = check_session(L);
  lua_pushboolean(L, u->primary);
  return 1;
}

/***
 * Registers resources: any argument may be nil.
 * @function Session:register_resources
 * @tparam[opt] {string,...} files full paths
 * @tparam[opt] {{pid=integer,start_time=integer},...} processes
 * @tparam[opt] {string,...} services short names
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_register_resources(lua_State *L) {
  Session *u = check_session(L);
  size_t nfiles, nsvcs, nprocs;
  const char **files;
  const char **svcs;
  lua_Integer i, np;
  rm_unique_process *procs;
  lua_settop(L, 4); /* scratch memory goes above the arguments */
  files = check_string_array(L, 2, &nfiles);
  svcs = check_string_array(L, 4, &nsvcs);
  np = check_array(L, 3);
  procs = (rm_unique_process *)scratch(L, (size_t)np * sizeof *procs);
  for (i = 1; i <= np; i++) {
    lua_geti(L, 3, i);
    rm_check_process(L, -1, 3, i, &procs[i - 1]);
    lua_pop(L, 1);
  }
  nprocs = (size_t)np;
  return push_result(L, rm_backend_register(live_session(L, u), nfiles, files,
                                            nprocs, procs, nsvcs, svcs));
}

static void push_app(lua_State *L, const rm_app *a) {
  const char *type = const_name(app_types, a->type);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, (lua_Integer)a->process.pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, (lua_Integer)a->process.start_time);
  lua_setfield(L, -2, "start_time");
  lua_pushstring(L, a->name);
  lua_setfield(L, -2, "name");
  if (a->service[0]) {
    lua_pushstring(L, a->service);
    lua_setfield(L, -2, "service");
  }
  if (type)
    lua_pushstring(L, type);
  else
    lua_pushinteger(L, a->type);
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)a->status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, (lua_Integer)a->session_id);
  lua_setfield(L, -2, "session_id");
  lua_pushboolean(L, a->restartable);
  lua_setfield(L, -2, "restartable");
#ifndef _WIN32
  /* a service: true when systemd stops and starts it, else why it cannot
   * (it is then stopped with signals, as any process) */
  if (a->type == RM_APP_SERVICE || (a->type == RM_APP_CRITICAL && a->service[0])) {
    switch (a->control) {
    case RM_CONTROL_SYSTEMD: lua_pushboolean(L, 1); break;
    case RM_CONTROL_NO_LIBSYSTEMD:
      lua_pushliteral(L, "libsystemd.so.0 could not be loaded");
      break;
    case RM_CONTROL_NO_SYSTEMD: lua_pushliteral(L, "no systemd runs"); break;
    default: lua_pushliteral(L, "its systemd manager could not be reached"); break;
    }
    lua_setfield(L, -2, "systemd");
  }
#endif
}

/***
 * One RmGetList call: the applications and services that use the registered
 * resources, computed afresh.
 * @function Session:get_list
 * @tparam[opt=0] integer capacity how many apps the answer may hold
 * @treturn[1] {app,...} apps (on Linux a service also has `systemd`: true
 * when systemd stops and starts it, else a string saying why it cannot)
 * @treturn[1] integer reboot reasons (bits of `reboot_reason`)
 * @treturn[1] integer how many processes could not be inspected (native
 * backend: other users' processes when the caller is not root, and any
 * hidden even from root; always 0 on Windows)
 * @treturn[1] {integer,...} their pids, in order
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (234 when capacity is too small)
 * @treturn[2] integer with 234, the capacity needed
 */
static int l_get_list(lua_State *L) {
  Session *u = check_session(L);
  lua_Integer cap = luaL_optinteger(L, 2, 0);
  unsigned needed = 0, count, i, rc;
  uint32_t reasons = 0;
  rm_pid_list uninspected = {NULL, 0};
  size_t k;
  PidBox *box;
  rm_app *apps;
  luaL_argcheck(L, cap >= 0 && cap <= MAX_CAPACITY, 2,
                "capacity must be from 0 to 1000000");
  count = (unsigned)cap;
  apps = (rm_app *)scratch(L, (size_t)cap * sizeof *apps);
  box = new_pidbox(L);
  rc = rm_backend_get_list(live_session(L, u), &needed, &count,
                           cap ? apps : NULL, &reasons, &uninspected);
  if (rc != RM_OK) {
    push_failure(L, rc);
    if (rc == RM_E_MORE_DATA) {
      lua_pushinteger(L, (lua_Integer)needed);
      return 4;
    }
    return 3;
  }
  if (count > (unsigned)cap) count = (unsigned)cap;
  lua_createtable(L, (int)count, 0);
  for (i = 0; i < count; i++) {
    push_app(L, &apps[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushinteger(L, (lua_Integer)reasons);
  lua_pushinteger(L, (lua_Integer)uninspected.n);
  box->pids = uninspected.pids; /* freed by the box if a push raises */
  lua_createtable(L, uninspected.n < INT_MAX ? (int)uninspected.n : 0, 0);
  for (k = 0; k < uninspected.n; k++) {
    lua_pushinteger(L, (lua_Integer)uninspected.pids[k]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  free(box->pids);
  box->pids = NULL;
  return 4;
}

/* Progress reports into a Lua function. The function and an error slot sit
 * at fixed stack indices for the duration of the backend call. */
typedef struct Progress {
  lua_State *L;
  Session *u;  /* the handle: once closed, the operation stops */
  int fn;      /* stack index of the function, 0 for none */
  int errslot; /* stack index holding the first error (nil until then) */
  int failed;
} Progress;

static int progress_cb(void *ctx, unsigned percent) {
  Progress *p = (Progress *)ctx;
  lua_State *L = p->L;
  if (p->failed || p->u->closed) return 1;
  if (!p->fn) return 0;
  if (!lua_checkstack(L, 3)) {
    p->failed = 1;
    lua_pushliteral(L, "stack overflow in progress callback");
    lua_replace(L, p->errslot);
    return 1;
  }
  lua_pushvalue(L, p->fn);
  lua_pushinteger(L, (lua_Integer)percent);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    p->failed = 1;
    lua_replace(L, p->errslot);
    return 1;
  }
  /* the function (or a finalizer it ran) may have ended the handle */
  return p->u->closed;
}

static int is_callable(lua_State *L, int idx) {
  if (lua_isfunction(L, idx)) return 1;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

static void progress_init(lua_State *L, Progress *p, Session *u, int arg) {
  p->L = L;
  p->u = u;
  p->failed = 0;
  p->fn = 0;
  if (!lua_isnoneornil(L, arg)) {
    luaL_argexpected(L, is_callable(L, arg), arg, "function");
    p->fn = arg;
  }
  lua_pushnil(L);
  p->errslot = lua_gettop(L);
}

/* Raises the callback's error if there was one; else pushes the result. */
static int progress_finish(lua_State *L, Progress *p, unsigned rc) {
  if (p->failed) {
    lua_pushvalue(L, p->errslot);
    return lua_error(L);
  }
  return push_result(L, rc);
}

static uint32_t check_flags(lua_State *L, int arg) {
  lua_Integer f = luaL_optinteger(L, arg, 0);
  luaL_argcheck(L, f >= 0 && f <= (lua_Integer)UINT32_MAX, arg,
                "flags must be from 0 to 4294967295");
  return (uint32_t)f;
}

/***
 * Shuts down the applications and services using the registered resources
 * (primary only).
 * @function Session:shutdown
 * @tparam[opt=0] integer flags bits of `shutdown`
 * @tparam[opt] function progress called with percentages that never fall
 * (on Linux the last one again about once a second while applications are
 * given time to stop)
 * @tparam[opt=30000] integer timeout_ms how long a polite stop may take
 * (native backend)
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_shutdown(lua_State *L) {
  Session *u = check_session(L);
  uint32_t flags = check_flags(L, 2);
  lua_Integer timeout = luaL_optinteger(L, 4, 30000);
  Progress p;
  unsigned rc;
  luaL_argcheck(L, timeout >= 0 && timeout <= INT_MAX, 4,
                "timeout must be from 0 to 2147483647 milliseconds");
  progress_init(L, &p, u, 3);
  rc = rm_backend_shutdown(hold(L, u), flags, (unsigned)timeout, progress_cb,
                           &p);
  release(u);
  return progress_finish(L, &p, rc);
}

/***
 * Restarts what this session shut down (primary only).
 * @function Session:restart
 * @tparam[opt] function progress called with rising percentages
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_restart(lua_State *L) {
  Session *u = check_session(L);
  Progress p;
  unsigned rc;
  progress_init(L, &p, u, 2);
  rc = rm_backend_restart(hold(L, u), progress_cb, &p);
  release(u);
  return progress_finish(L, &p, rc);
}

/***
 * Asks the running shutdown or restart to stop (RmCancelCurrentTask).
 * @function Session:cancel
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_cancel(lua_State *L) {
  Session *u = check_session(L);
  return push_result(L, rm_backend_cancel(live_session(L, u)));
}

/***
 * Cancels the running shutdown or restart of this process's primary session
 * with that key, from any Lua state or thread of the process (a session
 * handle belongs to the state that made it).
 * @function cancel
 * @tparam string key
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (6 when no primary session of this
 * process has that key)
 */
static int l_cancel_key(lua_State *L) {
  const char *key = check_cstring(L, 1, 1, 0);
  return push_result(L, rm_backend_cancel_key(key));
}

/* kind, target at arg, arg+1 into f. */
static void read_filter_target(lua_State *L, int arg, rm_filter *f) {
  int k = luaL_checkoption(L, arg, NULL, kinds);
  memset(f, 0, sizeof *f);
  f->trigger = kind_triggers[k];
  if (f->trigger == RM_FILTER_TRIGGER_PROCESS)
    rm_check_process(L, arg + 1, arg + 1, 0, &f->process);
  else
    f->name = check_cstring(L, arg + 1, arg + 1, 0);
}

/***
 * Adds a filter (primary only): the latest one for a target wins.
 * @function Session:add_filter
 * @tparam string kind "file", "process" or "service"
 * @param target a path, a `{pid=, start_time=}` table or a service name
 * @tparam string action `"no_restart"` or `"no_shutdown"`
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_add_filter(lua_State *L) {
  Session *u = check_session(L);
  rm_filter f;
  read_filter_target(L, 2, &f);
  f.action = action_values[luaL_checkoption(L, 4, NULL, actions)];
  return push_result(L, rm_backend_add_filter(live_session(L, u), &f));
}

/***
 * Removes a filter (primary only).
 * @function Session:remove_filter
 * @tparam string kind "file", "process" or "service"
 * @param target
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code (2 when there is no such filter)
 */
static int l_remove_filter(lua_State *L) {
  Session *u = check_session(L);
  rm_filter f;
  read_filter_target(L, 2, &f);
  return push_result(L, rm_backend_remove_filter(live_session(L, u), &f));
}

/***
 * The session's filters (primary only).
 * @function Session:get_filter_list
 * @treturn[1] {{kind=string,target=,action=string},...}
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_get_filter_list(lua_State *L) {
  Session *u = check_session(L);
  size_t size = 0, needed = 0;
  unsigned count = 0, i, rc;
  void *buf = NULL;
  int tries;
  rm_filter *f;
  for (tries = 0;; tries++) {
    rc = rm_backend_get_filter_list(live_session(L, u), buf, size, &needed,
                                    &count);
    if (rc != RM_E_MORE_DATA || tries == 4) break;
    size = needed;
    lua_settop(L, 1);
    buf = scratch(L, size);
  }
  if (rc != RM_OK) return push_failure(L, rc);
  f = (rm_filter *)buf;
  lua_createtable(L, (int)count, 0);
  for (i = 0; i < count; i++) {
    int k;
    lua_createtable(L, 0, 3);
    for (k = 0; kinds[k]; k++)
      if (kind_triggers[k] == f[i].trigger) break;
    lua_pushstring(L, kinds[k] ? kinds[k] : "invalid");
    lua_setfield(L, -2, "kind");
    if (f[i].trigger == RM_FILTER_TRIGGER_PROCESS)
      push_process(L, &f[i].process);
    else
      lua_pushstring(L, f[i].name ? f[i].name : "");
    lua_setfield(L, -2, "target");
    lua_pushstring(L, f[i].action == RM_FILTER_NO_RESTART    ? "no_restart"
                      : f[i].action == RM_FILTER_NO_SHUTDOWN ? "no_shutdown"
                                                             : "invalid");
    lua_setfield(L, -2, "action");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* ---------------------------------------------------------------------
 * Module functions
 * ------------------------------------------------------------------- */

/***
 * A live process as `{pid=, start_time=}`.
 * @function process
 * @tparam integer pid
 * @treturn[1] table
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_process(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  rm_unique_process p;
  unsigned rc;
  luaL_argcheck(L, pid >= 0 && pid <= (lua_Integer)UINT32_MAX, 1,
                "pid must be from 0 to 4294967295");
  rc = rm_backend_process((uint32_t)pid, &p);
  if (rc != RM_OK) return push_failure(L, rc);
  push_process(L, &p);
  return 1;
}

/***
 * Brings back what primaries that died stopped: sweeps the calling user's
 * session store as every start and join does, and starts again the
 * applications (as their users) and the services (through systemd) that
 * the shutdown of a primary that died before its restart stopped. Linux
 * only (the Restart Manager keeps no such record): on Windows it fails
 * with `ERROR_NOT_SUPPORTED` (50).
 * @function recover
 * @treturn[1] {table,...} what was started again, each `{exe=, pid=,
 * start_time=, uid=, new_pid=, started=}` for an application (`pid` and
 * `start_time` of the process it was, `new_pid` of the new one, 0 when not
 * known) or `{service=, uid=, started=}` for a service; `started` false
 * when its start failed
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_recover(lua_State *L) {
#ifdef _WIN32
  return push_failure(L, RM_E_NOT_SUPPORTED);
#else
  rm_recovered *r;
  size_t n, i;
  unsigned rc = rm_native_recover(&r, &n);
  if (rc != RM_OK) return push_failure(L, rc);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 6);
    if (r[i].service) {
      lua_pushstring(L, r[i].service);
      lua_setfield(L, -2, "service");
    } else {
      lua_pushstring(L, r[i].exe);
      lua_setfield(L, -2, "exe");
      lua_pushinteger(L, (lua_Integer)r[i].process.pid);
      lua_setfield(L, -2, "pid");
      lua_pushinteger(L, (lua_Integer)r[i].process.start_time);
      lua_setfield(L, -2, "start_time");
      lua_pushinteger(L, (lua_Integer)r[i].new_pid);
      lua_setfield(L, -2, "new_pid");
    }
    lua_pushinteger(L, (lua_Integer)r[i].uid);
    lua_setfield(L, -2, "uid");
    lua_pushboolean(L, r[i].started);
    lua_setfield(L, -2, "started");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  rm_native_recovered_free(r, n);
  return 1;
#endif
}

/***
 * Records how to restart the calling process (RegisterApplicationRestart).
 * @function register_application_restart
 * @tparam[opt] {string,...} args arguments after the executable's name
 * @tparam[opt=0] integer flags bits of `restart`
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_register_application_restart(lua_State *L) {
  size_t n;
  const char **args;
  uint32_t flags = check_flags(L, 2);
  luaL_argcheck(L, (flags & ~0xFu) == 0, 2,
                "flags must be bits of restartmanager.core.restart");
  args = check_string_array(L, 1, &n);
  return push_result(L, rm_backend_register_restart(n, args, flags));
}

/***
 * Removes the calling process's restart registration.
 * @function unregister_application_restart
 * @treturn[1] true
 * @treturn[2] nil
 * @treturn[2] string message
 * @treturn[2] integer Win32 error code
 */
static int l_unregister_application_restart(lua_State *L) {
  return push_result(L, rm_backend_unregister_restart());
}

/***
 * Which backend answers, and whether it runs under Wine.
 * @function backend_info
 * @treturn table `{backend = "windows"|"linux", engine = "rstrtmgr"|"win32"|
 * "native", wine = version string or false, privileged = whether the caller
 * may look into every user's processes (POSIX: its effective user is root;
 * Windows: false)}`: on Windows `engine` says whether rstrtmgr.dll's Restart
 * Manager answers or the user-mode win32 engine (chosen where rstrtmgr.dll is
 * only stubs, as under Wine)
 */
static int l_backend_info(lua_State *L) {
  const char *wine = rm_backend_wine_version();
  lua_createtable(L, 0, 4);
  lua_pushstring(L, rm_backend_name);
  lua_setfield(L, -2, "backend");
  lua_pushstring(L, rm_backend_engine());
  lua_setfield(L, -2, "engine");
  if (wine)
    lua_pushstring(L, wine);
  else
    lua_pushboolean(L, 0);
  lua_setfield(L, -2, "wine");
#ifdef _WIN32
  lua_pushboolean(L, 0);
#else
  lua_pushboolean(L, geteuid() == 0);
#endif
  lua_setfield(L, -2, "privileged");
  return 1;
}

#ifndef _WIN32
/***
 * The registered files whose path did not exist at the session's last
 * list (native backend only: it looks every path up when it lists; the
 * Windows build has no such method).
 * @function Session:missing
 * @treturn {integer,...} their places in the order registered (from 1)
 */
static int l_missing(lua_State *L) {
  Session *u = check_session(L);
  const size_t *places;
  size_t i, n = rm_native_missing(u->s, &places);
  lua_createtable(L, n < 65536 ? (int)n : 65536, 0);
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)places[i] + 1);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}
#endif

static const luaL_Reg session_methods[] = {
  {"end_session", l_end_session},
  {"key", l_key},
  {"is_primary", l_is_primary},
  {"register_resources", l_register_resources},
  {"get_list", l_get_list},
  {"shutdown", l_shutdown},
  {"restart", l_restart},
  {"cancel", l_cancel},
  {"add_filter", l_add_filter},
  {"remove_filter", l_remove_filter},
  {"get_filter_list", l_get_filter_list},
#ifndef _WIN32
  {"missing", l_missing},
#endif
  {NULL, NULL}};

static const luaL_Reg session_meta[] = {
  {"__gc", l_gc},
  {"__close", l_gc},
  {"__tostring", l_tostring},
  {"__index", NULL},
  {NULL, NULL}};

static const luaL_Reg functions[] = {
  {"start_session", l_start_session},
  {"join_session", l_join_session},
  {"process", l_process},
  {"recover", l_recover},
  {"cancel", l_cancel_key},
  {"register_application_restart", l_register_application_restart},
  {"unregister_application_restart", l_unregister_application_restart},
  {"backend_info", l_backend_info},
  {NULL, NULL}};

RM_EXPORT int luaopen_restartmanager_core(lua_State *L);
RM_EXPORT int luaopen_restartmanager_core(lua_State *L) {
  luaL_checkversion(L);
  if (luaL_newmetatable(L, SESSION_MT)) {
    luaL_setfuncs(L, session_meta, 0);
    luaL_newlib(L, session_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);

  luaL_newlib(L, functions);
  push_consts(L, app_types);
  lua_setfield(L, -2, "app_type");
  push_consts(L, app_statuses);
  lua_setfield(L, -2, "app_status");
  push_consts(L, reboot_reasons);
  lua_setfield(L, -2, "reboot_reason");
  push_consts(L, shutdown_flags);
  lua_setfield(L, -2, "shutdown");
  push_consts(L, filter_actions);
  lua_setfield(L, -2, "filter_action");
  push_consts(L, restart_flags);
  lua_setfield(L, -2, "restart");
  push_consts(L, errors);
  lua_setfield(L, -2, "error");
  lua_pushstring(L, rm_backend_name);
  lua_setfield(L, -2, "backend");
  lua_pushliteral(L, RM_VERSION);
  lua_setfield(L, -2, "_VERSION");
  rm_open_process(L);
  rm_open_console(L);
  rm_open_restart(L);
  return 1;
}
