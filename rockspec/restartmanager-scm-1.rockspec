rockspec_format = "3.0"
package = "restartmanager"
version = "scm-1"
source = {
  url = "git+file:///restartmanager",
}
description = {
  summary = "Close the programs that hold the files an installer must replace, and restart them",
  detailed = [[
The Windows Restart Manager's session model for Lua: a primary installer
starts a session and hands its key to secondary installers, every installer
registers the files, processes and services it will touch, and the primary
shuts down the applications that use them and restarts them after the update.
On Windows a binding of rstrtmgr.dll; on Linux the same semantics natively,
through /proc, signals and a per-user session store.
]],
  license = "MIT",
  labels = { "installer", "windows", "linux", "processes" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "builtin",
  modules = {
    ["restartmanager"] = "lua/restartmanager/init.lua",
    ["restartmanager.policy"] = "lua/restartmanager/policy.lua",
    ["restartmanager.log"] = "lua/restartmanager/log.lua",
    ["restartmanager.json"] = "lua/restartmanager/json.lua",
    ["restartmanager.cli"] = "lua/restartmanager/cli.lua",
    ["restartmanager.session"] = "lua/restartmanager/session.lua",
    ["restartmanager.procedure"] = "lua/restartmanager/procedure.lua",
    ["restartmanager.secondary"] = "lua/restartmanager/secondary.lua",
    ["restartmanager.check"] = "lua/restartmanager/check.lua",
    ["restartmanager.errors"] = "lua/restartmanager/errors.lua",
    ["restartmanager.paths"] = "lua/restartmanager/paths.lua",
  },
  -- the command-line tool also needs argparse, and dkjson or cjson for
  -- JSON (Debian: lua-argparse, lua-dkjson); they are not required here so
  -- that the library installs without them
  install = {
    bin = { restartmanager = "bin/restartmanager" },
  },
  platforms = {
    linux = {
      modules = {
        ["restartmanager.core"] = {
          sources = {
            "src/lconsole.c",
            "src/lprocess.c",
            "src/lrestart.c",
            "src/restartmanager.c",
            "src/native/apps.c",
            "src/native/backend.c",
            "src/native/capture.c",
            "src/native/console.c",
            "src/native/control.c",
            "src/native/filters.c",
            "src/native/launch.c",
            "src/native/process.c",
            "src/native/process_exec.c",
            "src/native/procfs.c",
            "src/native/records.c",
            "src/native/recovery.c",
            "src/native/relaunch.c",
            "src/native/restartreg.c",
            "src/native/scan.c",
            "src/native/services.c",
            "src/native/store.c",
            "src/native/systemd.c",
            "src/native/util.c",
          },
          incdirs = { "src" },
          libraries = { "pthread", "dl" },
        },
      },
    },
    win32 = {
      modules = {
        ["restartmanager.core"] = {
          sources = { "src/lconsole.c", "src/lprocess.c", "src/lrestart.c",
            "src/restartmanager.c", "src/windows/backend.c",
            "src/windows/cmdline.c", "src/windows/console.c",
            "src/windows/process.c", "src/windows/process_exec.c",
            "src/windows/rstrtmgr.c",
            "src/windows/w32_engine.c", "src/windows/w32_scan.c",
            "src/windows/w32_store.c", "src/windows/wutil.c" },
          incdirs = { "src" },
          libraries = { "rstrtmgr", "bcrypt", "psapi", "user32",
            "advapi32", "shell32" },
        },
      },
    },
    mingw32 = {
      modules = {
        ["restartmanager.core"] = {
          sources = { "src/lconsole.c", "src/lprocess.c", "src/lrestart.c",
            "src/restartmanager.c", "src/windows/backend.c",
            "src/windows/cmdline.c", "src/windows/console.c",
            "src/windows/process.c", "src/windows/process_exec.c",
            "src/windows/rstrtmgr.c",
            "src/windows/w32_engine.c", "src/windows/w32_scan.c",
            "src/windows/w32_store.c", "src/windows/wutil.c" },
          incdirs = { "src" },
          libraries = { "rstrtmgr", "bcrypt", "psapi", "user32",
            "advapi32", "shell32" },
        },
      },
    },
  },
}
