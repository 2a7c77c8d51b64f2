-- Benchmark: who uses these files. restartmanager's who_uses against the
-- project's bare two-thread scanner (spec/bench/bare_scan.c), fuser and
-- lsof -O, side by side, on the same workloads, each checked first for the
-- same answer from every tool.
--
--   lua5.4 spec/bench/who_uses.lua [rounds] [runs] [slow rounds]
--
-- Workloads (FILES files in one directory; holder processes each keep 50 of
-- the first 10,000 open, every 4th also maps one whose descriptor it
-- closed):
--   10,000 names / 200 holders, 100,000 names / 200 holders,
--   10,000 names / 500 holders, 10,000 names / 2,000 holders,
--   and the directory of all 100,000 files / 200 holders.
-- Every command of a workload is timed by hyperfine in ROUNDS rounds (11;
-- RUNS runs a round, 3, after a warm-up run; fuser and lsof, far slower,
-- one run a round in the first SLOW_ROUNDS rounds, 3), the commands taking
-- turns round by round so that the load of a shared machine falls on all
-- of them alike. Reported: the median over every run,
-- and each ratio as the median of the rounds' ratios (the bare scanner's
-- time over who_uses' for "bare/rm", ...); the same for the processor time
-- (user and system, all threads: hyperfine's mean of a round's runs),
-- which a loaded machine disturbs less. The peak RSS of who_uses is its
-- VmHWM at the end of the call.
local cjson = require "cjson"
io.stdout:setvbuf("line")

local ROUNDS = tonumber(arg[1]) or 11
local RUNS = tonumber(arg[2]) or 3
-- fuser and lsof run in the first SLOW_ROUNDS rounds only
local SLOW_ROUNDS = tonumber(arg[3]) or 3
local BUILD = os.getenv("RM_BUILD") or "build"
local LUA = os.getenv("RM_LUA") or "lua5.4"
local BARE = BUILD .. "/bench/bare_scan"
local PER = 50
local NFILES = 100000

local function sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  f:close()
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function median(t)
  local s = table.move(t, 1, #t, 1, {})
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local store = dir .. "/store"
local holders = {}

local function cleanup()
  if #holders > 0 then
    sh("kill -KILL " .. table.concat(holders, " ") .. " 2>/dev/null")
  end
  sh("rm -rf " .. q(dir))
end

local ok, err = xpcall(function()
  assert(os.execute("mkdir -p " .. q(dir .. "/f") .. " " .. q(store)
    .. " && chmod 700 " .. q(store)))
  for i = 1, NFILES do
    local f = assert(io.open(("%s/f/%d"):format(dir, i), "w"))
    f:write(i, "\n")
    f:close()
  end
  local function names(n, path)
    local f = assert(io.open(path, "w"))
    for i = 1, n do f:write(dir, "/f/", i, "\n") end
    f:close()
    return path
  end
  local list10k = names(10000, dir .. "/list10k")
  local list100k = names(NFILES, dir .. "/list100k")
  local listdir = dir .. "/listdir"
  do
    local f = assert(io.open(listdir, "w"))
    f:write(dir, "/f\n")
    f:close()
  end

  -- starts holders number first .. first+n-1; waits until each is ready
  local function start_holders(first, n)
    local script = {}
    for p = first, first + n - 1 do
      local args = {}
      for k = 1, PER do
        args[#args + 1] = ("%s/f/%d"):format(dir, (p * PER + k - 1) % 10000 + 1)
      end
      if p % 4 == 0 then
        args[#args + 1] = ("map:%s/f/%d"):format(dir, (p * 37) % 10000 + 1)
      end
      script[#script + 1] = ("%s open %s > %s/h%d 2>&1 &\necho $!")
        :format(q(BUILD .. "/helpers/holder"), table.concat(args, " "), dir, p)
    end
    local path = dir .. "/start.sh"
    local sf = assert(io.open(path, "w"))
    sf:write(table.concat(script, "\n"), "\n")
    sf:close()
    for pid in sh("sh " .. q(path)):gmatch("%d+") do
      holders[#holders + 1] = pid
    end
    for p = first, first + n - 1 do
      for _ = 1, 2000 do
        local f = io.open(("%s/h%d"):format(dir, p))
        local s = f and f:read("a")
        if f then f:close() end
        if s and s:match("ready") then break end
        if s and s:match("holder:") then error("holder " .. p .. ": " .. s) end
        sh("sleep 0.01")
      end
    end
  end

  -- the commands
  local who = dir .. "/who_uses.lua"
  local wf = assert(io.open(who, "w"))
  wf:write([[
    local rm = require "restartmanager"
    local files = {}
    for l in io.lines(arg[1]) do files[#files + 1] = l end
    local apps = assert(rm.who_uses(files))
    if arg[2] == "pids" then
      for _, a in ipairs(apps) do print(a.pid) end
    elseif arg[2] == "rss" then
      for l in io.lines("/proc/self/status") do
        local kb = l:match("^VmHWM:%s*(%d+)")
        if kb then print(kb) end
      end
    end
  ]])
  wf:close()
  local fuser10k = dir .. "/fuser.sh"
  do
    local ff = assert(io.open(fuser10k, "w"))
    ff:write("exec fuser")
    for l in io.lines(list10k) do ff:write(" ", l) end
    ff:write(" 2>/dev/null\n")
    ff:close()
  end

  local function set_of(text)
    local t = {}
    for pid in text:gmatch("%d+") do t[tonumber(pid)] = true end
    return t
  end
  local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
  local function diff(a, b)
    local only = {}
    for k in pairs(a) do if not b[k] then only[#only + 1] = k end end
    table.sort(only)
    return only
  end

  -- lsof lists every open file and mapping: keep the processes that have
  -- one of the wanted files (or, for a directory, a file beneath it)
  local function lsof_pids(list)
    local wanted, prefix = {}, nil
    for l in io.lines(list) do wanted[l] = true end
    if list == listdir then prefix = dir .. "/f/" end
    local out = sh("lsof -O -n -w -F pn 2>/dev/null")
    local pids, pid = {}, nil
    for line in out:gmatch("[^\n]+") do
      local tag, v = line:sub(1, 1), line:sub(2)
      if tag == "p" then pid = tonumber(v)
      elseif tag == "n" and (wanted[v] or
        (prefix and v:sub(1, #prefix) == prefix)) then
        pids[pid] = true
      end
    end
    return pids
  end

  -- every tool's answer must be the holders, exactly
  local function check(w)
    local expected = {}
    for _, pid in ipairs(holders) do expected[tonumber(pid)] = true end
    local got = { ["who_uses"] = set_of(sh(w.rm .. " pids")) }
    if w.bare then got.bare = set_of(sh(w.bare)) end
    if w.fuser then got.fuser = set_of(sh(w.fuser)) end
    got["lsof -O"] = lsof_pids(w.list)
    local tools = {}
    for name, pids in pairs(got) do
      local missing, extra = diff(expected, pids), diff(pids, expected)
      if #missing > 0 or #extra > 0 then
        error(("%s: %s found %d processes, expected %d (missing %s; extra %s)")
          :format(w.title, name, count(pids), count(expected),
            table.concat(missing, " ", 1, math.min(#missing, 5)),
            table.concat(extra, " ", 1, math.min(#extra, 5))))
      end
      tools[#tools + 1] = name
    end
    table.sort(tools)
    return count(expected), tools
  end

  local function hyperfine(cmds, runs, warmup)
    local json = dir .. "/hf.json"
    local args = { ("XDG_RUNTIME_DIR=%s hyperfine -N --style none -w %d -r %d")
      :format(q(store), warmup, runs), "--export-json " .. q(json) }
    for _, c in ipairs(cmds) do args[#args + 1] = q(c) end
    assert(os.execute(table.concat(args, " ") .. " >/dev/null 2>&1"),
      "hyperfine failed")
    local f = assert(io.open(json))
    local data = cjson.decode(f:read("a"))
    f:close()
    local times, cpu = {}, {}
    for i, r in ipairs(data.results) do
      times[i] = r.times
      cpu[i] = (r.user + r.system) * 1000 -- ms, the mean of the runs
    end
    return times, cpu
  end

  -- times the workload's commands; returns medians (ms) and ratios. The
  -- fast commands run RUNS times a round after a warm-up run, fuser and
  -- lsof (ten to a hundred times slower) once a round.
  local function measure(w)
    local groups = { { keys = {}, cmds = {}, runs = RUNS, warmup = 1 },
      { keys = {}, cmds = {}, runs = 1, warmup = 0 } }
    local keys = {}
    for _, k in ipairs { "rm", "bare", "rmnames", "fuser", "lsof" } do
      if w[k] then
        local g = (k == "fuser" or k == "lsof") and groups[2] or groups[1]
        g.cmds[#g.cmds + 1] = k == "lsof" and "lsof -O -n -w -F pn" or w[k]
        g.keys[#g.keys + 1] = k
        keys[#keys + 1] = k
      end
    end
    local all, ratios, cpus, cpu_ratios = {}, {}, {}, {}
    for _, k in ipairs(keys) do
      all[k], ratios[k], cpus[k], cpu_ratios[k] = {}, {}, {}, {}
    end
    for round = 1, ROUNDS do
      local med, cpu = {}, {}
      for gi, g in ipairs(groups) do
        if #g.cmds > 0 and (gi == 1 or round <= SLOW_ROUNDS) then
          local t, c = hyperfine(g.cmds, g.runs, g.warmup)
          for i, k in ipairs(g.keys) do
            for _, v in ipairs(t[i]) do table.insert(all[k], v * 1000) end
            med[k] = median(t[i])
            cpu[k] = c[i]
            table.insert(cpus[k], c[i])
          end
        end
      end
      for _, k in ipairs(keys) do
        if med[k] then table.insert(ratios[k], med[k] / med.rm) end
        if cpu[k] then table.insert(cpu_ratios[k], cpu[k] / cpu.rm) end
      end
    end
    local res = {}
    for _, k in ipairs(keys) do
      res[k] = { ms = median(all[k]), ratio = median(ratios[k]),
        cpu = median(cpus[k]), cpu_ratio = median(cpu_ratios[k]) }
    end
    return res
  end

  local function rss(w)
    local kb = {}
    for _ = 1, 3 do kb[#kb + 1] = tonumber(sh(w.rm .. " rss")) end
    return median(kb)
  end

  local label = {
    rm = "restartmanager who_uses", bare = "bare scanner (spec/bench)",
    fuser = "fuser", lsof = "lsof -O", rmnames = "who_uses, the 10,000 names",
  }
  local function report(w, n, tools, res)
    print(("\n%s: the same %d holders found by %s")
      :format(w.title, n, table.concat(tools, ", ")))
    print(("  %-28s %10s  %-16s %10s  %s"):format("command", "median",
      "time / who_uses", "CPU", "CPU / who_uses"))
    for _, k in ipairs { "rm", "bare", "fuser", "lsof", "rmnames" } do
      if res[k] then
        print(("  %-28s %7.1f ms  %6.2fx %16.1f ms  %6.2fx"):format(label[k],
          res[k].ms, res[k].ratio, res[k].cpu, res[k].cpu_ratio))
      end
    end
    if res.bare then
      print(("  who_uses / bare scanner: %.2fx (CPU: %.2fx)"):format(
        1 / res.bare.ratio, 1 / res.bare.cpu_ratio))
    end
  end

  local rmcmd = function(list) return ("%s %s %s"):format(LUA, q(who), q(list)) end
  local workloads = {
    { title = "10,000 names / 200 holders", list = list10k, holders = 200,
      rm = rmcmd(list10k), bare = BARE .. " " .. q(list10k),
      fuser = "sh " .. q(fuser10k), lsof = true },
    { title = "100,000 names / 200 holders", list = list100k, holders = 200,
      rm = rmcmd(list100k), bare = BARE .. " " .. q(list100k), lsof = true,
      rss = true },
    { title = "the directory of the 100,000 files / 200 holders",
      list = listdir, holders = 200, rm = rmcmd(listdir),
      rmnames = rmcmd(list10k), directory = true },
    { title = "10,000 names / 500 holders", list = list10k, holders = 500,
      rm = rmcmd(list10k), bare = BARE .. " " .. q(list10k),
      fuser = "sh " .. q(fuser10k), lsof = true },
    { title = "10,000 names / 2,000 holders", list = list10k, holders = 2000,
      rm = rmcmd(list10k), bare = BARE .. " " .. q(list10k),
      fuser = "sh " .. q(fuser10k), lsof = true },
  }
  print(("who uses these files: %d files, holders keep %d of the first "
    .. "10,000 open, every 4th also maps one; %d rounds x %d runs a command")
    :format(NFILES, PER, ROUNDS, RUNS))
  local summary = {}
  for _, w in ipairs(workloads) do
    if #holders < w.holders then start_holders(#holders, w.holders - #holders) end
    local n, tools = check(w)
    local res = measure(w)
    report(w, n, tools, res)
    if w.rss then
      local kb = rss(w)
      print(("  peak RSS of who_uses (VmHWM): %.1f MB"):format(kb / 1024))
    end
    summary[#summary + 1] = { w = w, res = res }
  end
  print("\nsummary (who_uses / bare scanner; fuser and lsof -O / who_uses):")
  for _, s in ipairs(summary) do
    local r = s.res
    print(("  %-50s %s%s%s"):format(s.w.title,
      r.bare and ("%.2fx bare (CPU %.2fx)  "):format(1 / r.bare.ratio,
        1 / r.bare.cpu_ratio) or "",
      r.fuser and ("fuser %.1fx  "):format(r.fuser.ratio) or "",
      r.lsof and ("lsof %.1fx"):format(r.lsof.ratio) or
      (r.rmnames and ("%.2fx the 10,000 names"):format(1 / r.rmnames.ratio)
        or "")))
  end
end, debug.traceback)

cleanup()
if not ok then
  io.stderr:write(err, "\n")
  os.exit(1)
end
