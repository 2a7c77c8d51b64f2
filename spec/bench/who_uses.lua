-- Benchmark: who uses these files, restartmanager against fuser and lsof on
-- the same workload, checked for the same answer first.
--
--   lua5.4 spec/bench/who_uses.lua [files] [processes] [per-process] [runs]
--
-- The workload: FILES files; PROCESSES holder processes each keeping
-- PER-PROCESS of them open, every 4th also mapping a file whose descriptor
-- it closed. Times are medians of RUNS runs measured by hyperfine (whole
-- commands, the Lua interpreter's start included for restartmanager).
local cjson = require "cjson"

local NFILES = tonumber(arg[1]) or 10000
local NPROCS = tonumber(arg[2]) or 200
local PER = tonumber(arg[3]) or 50
local RUNS = tonumber(arg[4]) or 11
local BUILD = os.getenv("RM_BUILD") or "build"
local LUA = os.getenv("RM_LUA") or "lua5.4"

local function sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  f:close()
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local holders = {}

local function cleanup()
  if #holders > 0 then
    sh("kill -KILL " .. table.concat(holders, " ") .. " 2>/dev/null")
  end
  sh("rm -rf " .. q(dir))
end

local ok, err = xpcall(function()
  -- the files
  sh(("cd %s && mkdir f && seq 1 %d | while read i; do echo $i > f/$i; done")
    :format(q(dir), NFILES * 2))
  local function names(n, path)
    local f = assert(io.open(path, "w"))
    for i = 1, n do f:write(dir, "/f/", i, "\n") end
    f:close()
    return path
  end
  local list = names(NFILES, dir .. "/list")
  local list2 = names(NFILES * 2, dir .. "/list2")

  -- the processes
  local function start_holders(nprocs, per)
    local script = {}
    for p = 0, nprocs - 1 do
      local args = {}
      for k = 1, per do
        args[#args + 1] = ("%s/f/%d"):format(dir, (p * per + k - 1) % NFILES + 1)
      end
      if p % 4 == 0 then
        args[#args + 1] = ("map:%s/f/%d"):format(dir, (p * 37) % NFILES + 1)
      end
      script[#script + 1] = ("%s open %s > %s/h%d 2>&1 &\necho $!")
        :format(q(BUILD .. "/helpers/holder"), table.concat(args, " "), dir, p)
    end
    local path = dir .. "/start.sh"
    local sf = assert(io.open(path, "w"))
    sf:write(table.concat(script, "\n"), "\n")
    sf:close()
    local pids = {}
    for pid in sh("sh " .. q(path)):gmatch("%d+") do
      pids[#pids + 1] = tonumber(pid)
      holders[#holders + 1] = pid
    end
    for p = 0, nprocs - 1 do
      for _ = 1, 1000 do
        local f = io.open(("%s/h%d"):format(dir, p))
        local s = f and f:read("a")
        if f then f:close() end
        if s and s:match("ready") then break end
        sh("sleep 0.01")
      end
    end
    return pids
  end

  local function stop_holders()
    sh("kill -KILL " .. table.concat(holders, " ") .. " 2>/dev/null")
    holders = {}
  end

  -- the commands
  local who = dir .. "/who_uses.lua"
  local wf = assert(io.open(who, "w"))
  wf:write([[
    local rm = require "restartmanager"
    local files = {}
    for l in io.lines(arg[1]) do files[#files + 1] = l end
    local apps = assert(rm.who_uses(files))
    if arg[2] then for _, a in ipairs(apps) do print(a.pid) end end
  ]])
  wf:close()
  local fuser = dir .. "/fuser.sh"
  local ff = assert(io.open(fuser, "w"))
  ff:write("exec fuser")
  for l in io.lines(list) do ff:write(" ", l) end
  ff:write(" 2>/dev/null\n")
  ff:close()

  local function set_of(text)
    local t = {}
    for pid in text:gmatch("%d+") do t[tonumber(pid)] = true end
    return t
  end
  local function same(a, b)
    for k in pairs(a) do if not b[k] then return false end end
    for k in pairs(b) do if not a[k] then return false end end
    return true
  end
  local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

  -- lsof lists every open file and mapping; keep the processes that have
  -- one of the workload's files
  local function lsof_pids()
    local wanted = {}
    for l in io.lines(list) do wanted[l] = true end
    local out = sh("lsof -O -n -w -F pn 2>/dev/null")
    local pids, pid = {}, nil
    for line in out:gmatch("[^\n]+") do
      local tag, v = line:sub(1, 1), line:sub(2)
      if tag == "p" then pid = tonumber(v)
      elseif tag == "n" and wanted[v] then pids[pid] = true end
    end
    return pids
  end

  local function hyperfine(cmds, runs)
    local json = dir .. "/hf.json"
    local args = { "hyperfine -N --style none -w 2 -r " .. runs,
      "--export-json " .. q(json) }
    for _, c in ipairs(cmds) do args[#args + 1] = q(c) end
    sh(table.concat(args, " ") .. " >/dev/null 2>&1")
    local f = assert(io.open(json))
    local data = cjson.decode(f:read("a"))
    f:close()
    local medians = {}
    for i, r in ipairs(data.results) do medians[i] = r.median * 1000 end
    return medians
  end

  local env = ("env XDG_RUNTIME_DIR=%s "):format(q(dir))
  local ours = env .. LUA .. " " .. q(who) .. " " .. q(list)

  print(("workload: %d files, %d processes x %d descriptors, every 4th also "
    .. "mapping a closed file"):format(NFILES, NPROCS, PER))
  local expected = {}
  for _, pid in ipairs(start_holders(NPROCS, PER)) do expected[pid] = true end

  -- correctness first
  local got = {
    restartmanager = set_of(sh(ours .. " print")),
    fuser = set_of(sh("sh " .. q(fuser))),
    ["lsof -O"] = lsof_pids(),
  }
  for name, pids in pairs(got) do
    if not same(pids, expected) then
      error(("%s found %d processes, expected %d"):format(name, count(pids),
        count(expected)))
    end
  end
  print(("correctness: all three found the same %d processes")
    :format(count(expected)))

  local t = hyperfine({ ours, "sh " .. fuser, "lsof -O -n -w -F pn" }, RUNS)
  print(("%-24s %10s %8s"):format("command", "median", "ratio"))
  print(("%-24s %8.1f ms %8s"):format("restartmanager who_uses", t[1], "1.0x"))
  print(("%-24s %8.1f ms %7.1fx"):format("fuser", t[2], t[2] / t[1]))
  print(("%-24s %8.1f ms %7.1fx"):format("lsof -O", t[3], t[3] / t[1]))

  -- how restartmanager's time grows
  print("scaling of restartmanager who_uses (median of " .. RUNS .. " runs):")
  print(("  %-44s %8.1f ms"):format(("%d processes, %d names"):format(NPROCS,
    NFILES), t[1]))
  local t2 = hyperfine({ env .. LUA .. " " .. q(who) .. " " .. q(list2) }, RUNS)
  print(("  %-44s %8.1f ms  (x%.2f)"):format(("%d processes, %d names")
    :format(NPROCS, NFILES * 2), t2[1], t2[1] / t[1]))
  start_holders(NPROCS, PER)
  local t3 = hyperfine({ ours }, RUNS)
  print(("  %-44s %8.1f ms  (x%.2f)"):format(("%d processes, %d names")
    :format(NPROCS * 2, NFILES), t3[1], t3[1] / t[1]))
  stop_holders()
end, debug.traceback)

cleanup()
if not ok then
  io.stderr:write(err, "\n")
  os.exit(1)
end
