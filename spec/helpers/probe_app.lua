-- An application the specs start and restart to see what it inherits: it
-- registers for restart with its own arguments, keeps DATA open, appends
-- one line to STATE per start (pid, umask, nice value, open-files limit,
-- supplementary groups), then waits on FIFO, which no one writes.
--   lua5.4 probe_app.lua STATE DATA FIFO
local core = require "restartmanager.core"

local state, data, fifo = arg[1], arg[2], arg[3]
assert(core.register_application_restart({ arg[0], state, data, fifo }))
local held = assert(io.open(data, "r"))
local stat = assert(io.open("/proc/self/stat")):read("l")
local pid = stat:match("^(%d+)")
-- the nice value: the 19th field, counted after the command's parentheses
local fields = {}
for w in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
local nice = fields[17]
local umask = io.popen("umask"):read("l")
local nofile
for line in io.lines("/proc/self/limits") do
  local soft = line:match("^Max open files%s+(%S+)")
  if soft then nofile = soft end
end
local groups = 0
for _ in (io.popen("id -G"):read("l") or ""):gmatch("%d+") do groups = groups + 1 end
local out = assert(io.open(state, "a"))
out:write(("pid=%s umask=%s nice=%s nofile=%s ngroups=%d\n"):format(pid,
  umask, nice, nofile, groups))
out:close()
local f = io.open(fifo, "r")
if f then f:close() end
held:close()
