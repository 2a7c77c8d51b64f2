-- Benchmark: shutdown latency, the time from a cooperative application's
-- exit (stamped by the application in its SIGTERM handler) to shutdown
-- returning, and the whole shutdown's time, for 1 and for 20 applications.
--
--   lua5.4 spec/bench/shutdown.lua [runs]
local clock = require "clock"
local rm = require "restartmanager"

local RUNS = tonumber(arg[1]) or 11
local BUILD = os.getenv("RM_BUILD") or "build"

local function sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  f:close()
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function median(t)
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local data = dir .. "/data"
sh("echo data > " .. q(data))

-- starts n holders of the data file that stamp their exit; returns the
-- stamp files
local function start(n)
  local stamps = {}
  for i = 1, n do
    stamps[i] = ("%s/stamp%d"):format(dir, i)
    local out = ("%s/out%d"):format(dir, i)
    sh(("%s stamp %s open %s > %s 2>&1 </dev/null &"):format(
      q(BUILD .. "/helpers/holder"), q(stamps[i]), q(data), q(out)))
    for _ = 1, 1000 do
      local f = io.open(out)
      local s = f and f:read("a")
      if f then f:close() end
      if s and s:match("ready") then break end
      sh("sleep 0.005")
    end
  end
  return stamps
end

local function run(n)
  local latencies, totals = {}, {}
  for _ = 1, RUNS do
    local stamps = start(n)
    local s <close> = assert(rm.start())
    assert(s:register { files = { data } })
    local t0 = clock.ns()
    assert(s:shutdown { timeout = 10 })
    local t1 = clock.ns()
    local last = 0
    for _, path in ipairs(stamps) do
      local f = assert(io.open(path))
      local v = assert(tonumber(f:read("l")), "no stamp in " .. path)
      f:close()
      if v > last then last = v end
    end
    latencies[#latencies + 1] = (t1 - last) / 1e6
    totals[#totals + 1] = (t1 - t0) / 1e6
  end
  return median(latencies), median(totals)
end

local ok, err = pcall(function()
  print(("shutdown of cooperative applications (median of %d runs):"):format(RUNS))
  for _, n in ipairs { 1, 20 } do
    local latency, total = run(n)
    print(("  %2d app(s): last exit -> shutdown returned %6.2f ms; "
      .. "whole shutdown (list, signal, wait) %6.1f ms"):format(n, latency, total))
  end
end)
sh("rm -rf " .. q(dir))
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
