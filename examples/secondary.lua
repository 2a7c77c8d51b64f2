-- The secondary installer of the Restart Manager's documentation, in Lua:
-- it joins the session of the primary installer that started it, registers
-- the library it will change, and leaves the session. Only the primary
-- lists, shuts down and restarts; a secondary registers resources.
--
--   lua5.4 examples/secondary.lua LIBRARY --restartmanager-key=KEY
--   RESTARTMANAGER_KEY=KEY lua5.4 examples/secondary.lua LIBRARY
--
-- examples/primary.lua starts it with the key (rm.spawn_secondary hands it
-- over both ways). Exit status: 0 when the library was registered, 1 when
-- the session could not be joined or the registration failed, 2 for a
-- wrong command line.
local rm = require "restartmanager"

local function say(fmt, ...)
  io.stdout:write("[secondary] ", fmt:format(...), "\n")
  io.stdout:flush()
end

local function main()
  local library
  for _, a in ipairs(arg) do
    if a:sub(1, #rm.KEY_OPTION) ~= rm.KEY_OPTION then
      library = library or a
    end
  end
  library = library or os.getenv("RM_EXAMPLE_LIBRARY")
  if not library or not rm.handed_key() then
    io.stderr:write("usage: secondary.lua LIBRARY --restartmanager-key=KEY\n"
      .. "   or: RESTARTMANAGER_KEY=KEY secondary.lua LIBRARY\n")
    return 2
  end

  -- the key the primary handed over: the argument, else the environment
  local session <close>, err = rm.join()
  if not session then
    say("cannot join the session: %s", err)
    return 1
  end
  say("joined session %s", session.key)

  local ok
  ok, err = session:register { files = { library } }
  if not ok then
    say("cannot register %s: %s", library, err)
    return 1
  end
  say("registered the library %s", library)

  -- a secondary leaves; the session lives on until the primary ends it
  session:close()
  say("left the session")
  return 0
end

os.exit(main())
