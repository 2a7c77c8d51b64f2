-- The primary installer of the Restart Manager's documentation, in Lua. It
--
--   1. starts a session and gets its key;
--   2. starts the secondary installer (examples/secondary.lua) and hands it
--      the key; the secondary joins and registers the library;
--   3. registers the application's executable;
--   4. asks who uses the registered files, calling get_list again while the
--      list outgrows the room it gave (at most 3 more times);
--   5. gives up when a reboot would be needed;
--   6. shuts the applications down;
--   7. installs the new version of the library;
--   8. restarts the applications it shut down;
--   9. ends the session (also when a step failed).
--
--   lua5.4 examples/primary.lua EXECUTABLE LIBRARY [NEW_LIBRARY]
--
-- EXECUTABLE is the application's program (registered by the primary),
-- LIBRARY a file it keeps open (registered by the secondary), NEW_LIBRARY
-- the new version of LIBRARY (default: LIBRARY.new). The environment
-- variables RM_EXAMPLE_EXECUTABLE, RM_EXAMPLE_LIBRARY and
-- RM_EXAMPLE_NEW_LIBRARY stand in for missing arguments. The secondary is
-- run with the interpreter that runs this script, from beside it.
--
-- Exit status: 0 when the update went through, 1 when a step failed, 2 for
-- a wrong command line, 3 when a reboot would be needed.
local rm = require "restartmanager"
local core = rm.core

local function say(fmt, ...)
  io.stdout:write("[primary] ", fmt:format(...), "\n")
  io.stdout:flush()
end

-- The interpreter that runs this script (the lowest index of arg).
local function interpreter()
  local i = 0
  while arg[i - 1] do i = i - 1 end
  return i < 0 and arg[i] or "lua5.4"
end

local function copy(from, to)
  local src, err = io.open(from, "rb")
  if not src then return nil, err end
  local data = src:read("a")
  src:close()
  local dst
  dst, err = io.open(to, "wb")
  if not dst then return nil, err end
  local ok
  ok, err = dst:write(data)
  dst:close()
  if not ok then return nil, err end
  return true
end

local function main()
  local exe = arg[1] or os.getenv("RM_EXAMPLE_EXECUTABLE")
  local library = arg[2] or os.getenv("RM_EXAMPLE_LIBRARY")
  local new = arg[3] or os.getenv("RM_EXAMPLE_NEW_LIBRARY")
    or (library and library .. ".new")
  if not exe or not library then
    io.stderr:write("usage: primary.lua EXECUTABLE LIBRARY [NEW_LIBRARY]\n")
    return 2
  end
  local here = (arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."

  -- 1. the session; it ends when `session` goes out of scope, whatever
  -- happens below
  local session <close>, err = rm.start()
  if not session then
    say("cannot start a session: %s", err)
    return 1
  end
  say("started session %s", session.key)

  -- 2. the secondary installer, with the key; it registers the library
  local cmd = { interpreter(), here .. "/secondary.lua", library }
  say("starting the secondary installer: %s", table.concat(cmd, " "))
  local status, how = session:spawn_secondary(cmd, { wait = true })
  if status ~= 0 then
    say("the secondary installer failed (%s %s)", tostring(how or status),
      tostring(how and status or ""))
    return 1
  end
  say("the secondary installer is done")

  -- 3. what the primary itself will touch: the executable
  local ok
  ok, err = session:register { files = { exe } }
  if not ok then
    say("cannot register %s: %s", exe, err)
    return 1
  end
  say("registered the executable %s", exe)

  -- 4. who uses the registered files. The list is computed anew at every
  -- call, so it may have grown since the call that gave its size: ask
  -- again with the size the last answer gave, a bounded number of times.
  local apps, reasons
  local capacity, retry = 0, 0
  repeat
    local got, r, c, needed = session.handle:get_list(capacity)
    if got then
      apps, reasons = got, r
      break
    end
    if c ~= core.error.ERROR_MORE_DATA then
      say("cannot list the applications: %s", r)
      return 1
    end
    say("the list needs room for %d, asking again", needed)
    capacity = needed
    retry = retry + 1
  until retry > 3
  if not apps then
    say("the list kept growing; giving up")
    return 1
  end
  say("%d application%s use%s the files:", #apps, #apps == 1 and "" or "s",
    #apps == 1 and "s" or "")
  for _, a in ipairs(apps) do
    say("  pid %d  %s  (%s, %s)", a.pid, a.name, a.type,
      a.restartable and "registered for restart" or "not restartable")
  end

  -- 5. a reboot reason means that shutting applications down cannot free
  -- every file: ask the user, or schedule a reboot; here, give up
  if reasons ~= core.reboot_reason.none then
    local names = {}
    for name in pairs(rm.reboot_reasons(reasons)) do names[#names + 1] = name end
    table.sort(names)
    say("a reboot would be needed (%s); nothing was changed",
      table.concat(names, ", "))
    return 3
  end
  say("no reboot needed")

  -- 6. shut them down
  ok, err = session:shutdown()
  if not ok then
    say("the shutdown failed: %s", err)
    -- what did stop must come back
    session:restart()
    return 1
  end
  say("shut them down")

  -- 7. the update itself: the new library replaces the old one (a copy
  -- beside it, renamed over it, as installers do)
  ok, err = copy(new, library .. ".tmp")
  if ok then ok, err = os.rename(library .. ".tmp", library) end
  if not ok then
    say("cannot install %s: %s", new, err)
  else
    say("installed %s as %s", new, library)
  end

  -- 8. bring back what was shut down (also when the update failed)
  local rok, rerr = session:restart()
  if not rok then
    say("the restart failed: %s", rerr)
    return 1
  end
  say("restarted the applications")

  -- 9. end the session
  session:close()
  say("ended the session")
  return ok and 0 or 1
end

os.exit(main())
