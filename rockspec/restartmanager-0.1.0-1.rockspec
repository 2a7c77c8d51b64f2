-- The release rockspec of version 0.1.0 (tag v0.1.0). The development
-- rockspec beside it (restartmanager-scm-1.rockspec) is the same but for
-- version and source; spec/package/rockspec_spec.lua checks that they agree.
-- The source URL is a placeholder until the repository is published:
-- docs/releasing.md says what to put there.
rockspec_format = "3.0"
package = "restartmanager"
version = "0.1.0-1"
source = {
  url = "git+https://git.example.org/restartmanager/restartmanager.git",
  tag = "v0.1.0",
}
description = {
  summary = "Close the programs that hold the files an installer must replace, and restart them",
  detailed = [[
The Windows Restart Manager's session model for Lua: a primary installer
starts a session and hands its key to secondary installers, every installer
registers the files, processes and services it will touch, and the primary
shuts down the applications that use them and restarts them after the update.
On Windows a binding of rstrtmgr.dll; on Linux the same semantics natively,
through /proc, signals and a per-user session store. With a command-line tool,
restartmanager, and a static library for programs that embed Lua.
]],
  homepage = "https://git.example.org/restartmanager/restartmanager",
  license = "MIT",
  labels = { "installer", "windows", "linux", "processes" },
}
-- Linux has the native backend and Windows the binding of rstrtmgr.dll;
-- anywhere else there is no C core, so LuaRocks refuses the rock up front.
supported_platforms = { "linux", "windows" }
-- argparse and dkjson are the command-line tool's (the library needs
-- neither); lua-term and luasystem are used when present.
dependencies = {
  "lua >= 5.4, < 5.5",
  "argparse >= 0.6",
  "dkjson >= 2.5",
}
-- `luarocks test`: the specs that need no Wine (make test-native builds what
-- they start and runs busted with --exclude-tags=wine,valgrind,fuzz). Extra
-- words after -- go to make: `luarocks test -- SPECS=spec/core`.
test = {
  type = "command",
  command = "make test-native",
}
build = {
  type = "builtin",
  -- every file of lua/restartmanager/ (the spec checks none is missing)
  modules = {
    ["restartmanager"] = "lua/restartmanager/init.lua",
    ["restartmanager.check"] = "lua/restartmanager/check.lua",
    ["restartmanager.cli"] = "lua/restartmanager/cli.lua",
    ["restartmanager.errors"] = "lua/restartmanager/errors.lua",
    ["restartmanager.json"] = "lua/restartmanager/json.lua",
    ["restartmanager.log"] = "lua/restartmanager/log.lua",
    ["restartmanager.paths"] = "lua/restartmanager/paths.lua",
    ["restartmanager.policy"] = "lua/restartmanager/policy.lua",
    ["restartmanager.procedure"] = "lua/restartmanager/procedure.lua",
    ["restartmanager.secondary"] = "lua/restartmanager/secondary.lua",
    ["restartmanager.session"] = "lua/restartmanager/session.lua",
  },
  install = {
    bin = { restartmanager = "bin/restartmanager" },
  },
  -- The C core exports luaopen_restartmanager_core alone: the internal
  -- headers declare everything else with hidden visibility, since the
  -- builtin build passes no -fvisibility=hidden of its own.
  platforms = {
    linux = {
      modules = {
        ["restartmanager.core"] = {
          sources = {
            "src/filters.c",
            "src/lconsole.c",
            "src/lprocess.c",
            "src/lrestart.c",
            "src/progress.c",
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
    windows = {
      modules = {
        -- no incdirs: src/restartmanager.h must not hide the SDK's
        -- RestartManager.h
        ["restartmanager.core"] = {
          sources = {
            "src/filters.c",
            "src/lconsole.c",
            "src/lprocess.c",
            "src/lrestart.c",
            "src/progress.c",
            "src/restartmanager.c",
            "src/windows/backend.c",
            "src/windows/capture.c",
            "src/windows/cmdline.c",
            "src/windows/console.c",
            "src/windows/process.c",
            "src/windows/process_exec.c",
            "src/windows/rstrtmgr.c",
            "src/windows/w32_engine.c",
            "src/windows/w32_scan.c",
            "src/windows/w32_store.c",
            "src/windows/wutil.c",
          },
          libraries = { "rstrtmgr", "bcrypt", "psapi", "user32", "advapi32",
            "shell32" },
        },
      },
    },
  },
}
