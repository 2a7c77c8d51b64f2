/***
 * The command line of a Lua program, for command-line tools
 * (bin/restartmanager): `utf8_arguments` of `restartmanager.core`.
 *
 * @module restartmanager.core
 */
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "binding.h"
#include "console.h"

/* The length of a border of arg: its largest index n with arg[n] set, and
 * its smallest index (arg[0] the script, negatives the interpreter and its
 * options, as lua.c lays them out). */
static void bounds(lua_State *L, int t, lua_Integer *lo, lua_Integer *hi) {
  *hi = (lua_Integer)luaL_len(L, t);
  *lo = 1;
  while (lua_geti(L, t, *lo - 1) != LUA_TNIL) {
    lua_pop(L, 1);
    (*lo)--;
  }
  lua_pop(L, 1);
}

/***
 * The program's arguments as UTF-8 in the layout of `arg`. On Windows the
 * C runtime reads the command line in the ANSI code page, which cannot hold
 * every character: this reads it again from the UTF-16 command line, puts
 * the last strings of it at the indices of `arg` (the script's arguments
 * are the command line's last words), and has the console show UTF-8
 * output. Elsewhere it returns `args` itself.
 * @function utf8_arguments
 * @tparam table args the `arg` table lua.c made
 * @treturn table
 */
static int l_utf8_arguments(lua_State *L) {
  size_t argc = 0, i;
  char **argv = NULL;
  lua_Integer lo, hi, k;
  unsigned rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  rc = rm_console_arguments(&argc, &argv);
  if (rc == RM_E_INVALID_FUNCTION) return 1; /* already right */
  if (rc != RM_OK) return rm_push_failure(L, rc, "the command line");
  (void)rm_console_utf8_output();
  bounds(L, 1, &lo, &hi);
  lua_createtable(L, (int)(hi > 0 ? hi : 0), (int)(1 - lo));
  for (k = lo; k <= hi; k++) {
    /* the word of the command line at the same distance from its end */
    lua_Integer back = hi - k; /* 0 for the last */
    if ((size_t)back < argc) {
      i = argc - 1 - (size_t)back;
      if (!rm_valid_utf8((const unsigned char *)argv[i], strlen(argv[i])))
        lua_geti(L, 1, k);
      else
        lua_pushstring(L, argv[i]);
    } else {
      lua_geti(L, 1, k);
    }
    lua_seti(L, 2, k);
  }
  rm_console_free(argc, argv);
  return 1;
}

/***
 * Whether a file or directory exists, where the C runtime cannot say for
 * every name: on Windows `io.open` takes the name in the ANSI code page,
 * and a path with other characters is not found; this asks Windows with
 * the UTF-16 name. A path that cannot be looked at counts as existing.
 * Elsewhere it returns nothing: `io.open` reaches every name.
 * @function path_exists
 * @tparam string path (UTF-8 on Windows)
 * @treturn[1] boolean
 * @treturn[2] nil (not Windows)
 */
static int l_path_exists(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  int exists = 0;
  unsigned rc;
  luaL_argcheck(L, strlen(path) == len, 1, "paths may not contain '\\0'");
  rc = rm_console_path_exists(path, &exists);
  if (rc == RM_E_INVALID_FUNCTION) return 0;
  if (rc == RM_E_BAD_ARGUMENTS)
    return luaL_argerror(L, 1, "string is not valid UTF-8");
  if (rc != RM_OK) return rm_push_failure(L, rc, path);
  lua_pushboolean(L, exists);
  return 1;
}

static const luaL_Reg console_functions[] = {
  {"utf8_arguments", l_utf8_arguments},
  {"path_exists", l_path_exists},
  {NULL, NULL}};

void rm_open_console(lua_State *L) { luaL_setfuncs(L, console_functions, 0); }
