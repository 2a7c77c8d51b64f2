-- `make demo`: the primary and secondary installers of examples/ update a
-- running application for real, and this script tells what happens.
--
--   1. it sets up a small application in a fresh directory: its executable
--      bin/demo-app (a copy of the Lua interpreter, so that no other
--      process runs the same file), examples/app.lua as its program, and
--      its library share/greeting.txt ("version 1"), which it keeps open;
--      the new version waits beside it in share/greeting.txt.new;
--   2. it starts the application, which registers for restart;
--   3. it runs examples/primary.lua, which starts examples/secondary.lua
--      with the session key, shuts the application down, installs the new
--      library and restarts the application;
--   4. it shows the application running again: a new pid, reading
--      "version 2";
--   5. it stops the application (with restartmanager.close) and removes the
--      directory.
--
-- Exit status 0 when the application came back on the new library. Linux.
local rm = require "restartmanager"
local core = rm.core

local function say(fmt, ...)
  io.stdout:write("[demo] ", fmt:format(...), "\n")
  io.stdout:flush()
end

local function run(argv)
  local pid, err = core.spawn(argv)
  if not pid then return nil, err end
  local how, status = core.wait(pid)
  if how == "exit" and status == 0 then return true end
  return nil, ("%s failed (%s %s)"):format(argv[1], tostring(how),
    tostring(status))
end

local sleep
do
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.sleep then
    sleep = system.sleep
  else
    sleep = function(s) run { "sleep", tostring(s) } end
  end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- the n-th "started" line of the application's log, parsed
local function started(log, n, timeout)
  local t = 0
  repeat
    local i = 0
    for line in (read(log) or ""):gmatch("[^\n]+") do
      i = i + 1
      if i == n then
        return { pid = tonumber(line:match("pid=(%d+)")),
          library = line:match("library=(.*)$") }
      end
    end
    sleep(0.05)
    t = t + 0.05
  until t > timeout
  return nil
end

local function running(pid)
  local st = read("/proc/" .. pid .. "/stat")
  return st ~= nil and st:match("^.*%) (%a)") ~= "Z"
end

local function main()
  if core.backend ~= "linux" or not core.spawn then
    say("this demo runs on Linux")
    return 1
  end
  local here = (arg[0] or ""):match("^(.*)/[^/]*$") or "."
  if here:sub(1, 1) ~= "/" then
    here = (os.getenv("PWD") or ".") .. "/" .. here
  end
  local lua = core.executable(tonumber(read("/proc/self/stat"):match("^%d+")))

  local p = io.popen("mktemp -d -t restartmanager-demo.XXXXXX")
  local dir = p:read("l")
  p:close()
  assert(dir and dir:sub(1, 1) == "/", "mktemp -d failed")
  local exe = dir .. "/bin/demo-app"
  local library = dir .. "/share/greeting.txt"
  local log, fifo = dir .. "/app.log", dir .. "/wait.fifo"
  local app_pid, new_pid

  local function cleanup()
    if new_pid and running(new_pid) then
      local ok, err = rm.close({ files = { exe } }, { timeout = 5, force = true })
      if ok then
        say("stopped the application (pid %d) with restartmanager.close", new_pid)
      else
        say("could not stop pid %d: %s", new_pid, err)
      end
    end
    if app_pid and core.wait(app_pid, true) == "running" then
      run { "kill", "-KILL", tostring(app_pid) }
      core.wait(app_pid)
    end
    run { "rm", "-rf", dir }
    say("removed %s", dir)
  end

  say("backend %s, restartmanager %s", core.backend, rm._VERSION)
  say("setting up the application in %s", dir)
  assert(run { "mkdir", "-p", dir .. "/bin", dir .. "/share" })
  assert(run { "cp", lua, exe })
  assert(run { "mkfifo", fifo })
  write(library, "version 1\n")
  write(library .. ".new", "version 2\n")
  say("  executable %s (a copy of %s)", exe, lua)
  say("  library    %s: \"version 1\"", library)
  say("  new version %s.new: \"version 2\"", library)

  app_pid = assert(core.spawn { exe, here .. "/app.lua", library, log, fifo })
  local first = started(log, 1, 10)
  if not first then
    say("the application did not start")
    cleanup()
    return 1
  end
  say("the application runs: pid %d, it reads \"%s\"", first.pid,
    first.library)

  local cmd = { lua, here .. "/primary.lua", exe, library, library .. ".new" }
  say("running the primary installer: %s", table.concat(cmd, " "))
  say("----")
  local pid = assert(core.spawn(cmd))
  local how, status = core.wait(pid)
  say("----")
  say("the primary installer ended: %s %d", how, status)

  local how1, st1 = core.wait(app_pid)
  say("the first instance (pid %d) ended: %s %d%s", app_pid, how1, st1,
    (how1 == "signal" and st1 == 15) and " (SIGTERM)" or "")
  app_pid = nil

  local second = started(log, 2, 10)
  local good = false
  if not second then
    say("the application did not come back")
  else
    new_pid = second.pid
    local its_exe = core.executable(second.pid) or "?"
    say("the application runs again: pid %d (was %d), it reads \"%s\"",
      second.pid, first.pid, second.library)
    say("  pid %d runs %s: %s", second.pid, exe,
      its_exe == exe and "yes" or ("no, " .. its_exe))
    good = how == "exit" and status == 0 and second.pid ~= first.pid
      and second.library == "version 2" and its_exe == exe
      and running(second.pid)
  end
  cleanup()
  say(good and "done: the application was updated and restarted"
    or "FAILED")
  return good and 0 or 1
end

os.exit(main())
