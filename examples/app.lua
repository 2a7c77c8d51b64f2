-- A small application for the examples and `make demo`: it registers for
-- restart with its own arguments, keeps its library (a data file) open,
-- appends one line to its log each time it starts ("started pid=N
-- library=CONTENT"), then waits until it is stopped.
--
--   lua5.4 examples/app.lua LIBRARY LOG FIFO
--
-- FIFO is a named pipe nobody writes: opening it blocks, which is how the
-- application waits without a child process or a busy loop. Linux only (it
-- reads its pid from /proc).
local core = require "restartmanager.core"

local library, log, fifo = arg[1], arg[2], arg[3]
if not fifo then
  io.stderr:write("usage: app.lua LIBRARY LOG FIFO\n")
  os.exit(2)
end

-- how to bring this process back after an update: the same script and
-- arguments (the executable is recorded by the call itself)
assert(core.register_application_restart { arg[0], library, log, fifo })

local held = assert(io.open(library, "r"))
local content = held:read("a"):gsub("%s+$", "")
local pid = assert(io.open("/proc/self/stat")):read("l"):match("^%d+")

local out = assert(io.open(log, "a"))
out:write(("started pid=%s library=%s\n"):format(pid, content))
out:close()

local wait = io.open(fifo, "r")
if wait then wait:close() end
