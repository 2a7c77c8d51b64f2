// A C++ program that embeds Lua and carries all of restartmanager inside
// it, as examples/host.c does in C: the C core and the Lua layer come from
// the static library (build/librestartmanager.a, `make static`).
//
//   host-cpp SCRIPT [ARG...]      (SCRIPT "-": standard input)
//
// runs SCRIPT with `arg` set as the lua interpreter sets it, so that
// examples/primary.lua, run by this host, starts examples/secondary.lua
// with this host too. Exit status: the script's os.exit, 0 when it returns,
// 1 when it raised an error.
//
//   g++ -Isrc -I/usr/include/lua5.4 -o host-cpp examples/host.cpp
//       build/librestartmanager.a -llua5.4 -pthread     (one line)
//
// restartmanager.h declares its functions extern "C"; Lua's own headers come
// through lua.hpp, which does the same for the C Lua library.
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "lua.hpp"
#include "restartmanager.h"

namespace {

struct LuaClose {
  void operator()(lua_State *L) const { lua_close(L); }
};
using State = std::unique_ptr<lua_State, LuaClose>;

// the error with a traceback, as the lua interpreter reports it
int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == nullptr)
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

// the whole library, opened protected
int open_restartmanager(lua_State *L) {
  luaL_requiref(L, "restartmanager", luaopen_restartmanager, 0);
  return 0;
}

// runs the script in L; the error message when it fails
bool run(lua_State *L, int argc, char **argv, std::string &error) {
  lua_pushcfunction(L, traceback);
  const int handler = lua_gettop(L);
  lua_pushcfunction(L, open_restartmanager);
  int status = lua_pcall(L, 0, 0, handler);
  if (status == LUA_OK) {
    lua_createtable(L, argc - 2, 2);
    for (int i = 0; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    const char *script = std::strcmp(argv[1], "-") == 0 ? nullptr : argv[1];
    status = luaL_loadfile(L, script);
    if (status == LUA_OK) {
      luaL_checkstack(L, argc, "too many arguments");
      for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
      status = lua_pcall(L, argc - 2, 0, handler);
    }
  }
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    error = msg ? msg : "(no message)";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " SCRIPT [ARG...]\n";
    return 2;
  }
  State L(luaL_newstate());
  if (!L) {
    std::cerr << argv[0] << ": not enough memory\n";
    return 1;
  }
  luaL_openlibs(L.get());
  std::string error;
  if (!run(L.get(), argc, argv, error)) {
    std::cerr << argv[0] << ": " << error << "\n";
    return 1;
  }
  return 0;
}
