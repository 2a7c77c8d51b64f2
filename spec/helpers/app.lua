-- An application the specs start, shut down and restart: it registers for
-- restart with its own arguments, keeps its data file open, writes what it
-- sees to its state file (one line per start), then waits until it is
-- stopped. Usage:
--   lua5.4 app.lua STATE DATA FIFO [WORD...]
-- RM_APP_FLAGS: restart registration flags. The process blocks opening
-- FIFO, which no one writes.
local core = require "restartmanager.core"

local state, data, fifo = arg[1], arg[2], arg[3]
local args = { arg[0] }
for i = 1, #arg do args[#args + 1] = arg[i] end
local flags = tonumber(os.getenv("RM_APP_FLAGS") or "0")
assert(core.register_application_restart(args, flags))

local held = assert(io.open(data, "r"))
local content = held:read("a")
local stat = assert(io.open("/proc/self/stat")):read("l")
local pid = stat:match("^(%d+)")
-- each command is waited for: none may outlive this start, holding the data
-- file it inherited
local function output(cmd)
  local p = assert(io.popen(cmd))
  local line = p:read("l")
  p:close()
  return line
end
local cwd = output("pwd")
local user = output("id -un")
local groups = output("id -G")

local out = assert(io.open(state, "a"))
out:write(("pid=%s cwd=%s user=%s groups=[%s] env=%s data=%s args=%s\n"):format(
  pid, cwd, user, groups, os.getenv("RM_APP_ENV") or "",
  content:gsub("%s+$", ""), table.concat(arg, ",", 4)))
out:close()

-- wait: no one ever writes the fifo
local f = io.open(fifo, "r")
if f then f:close() end
