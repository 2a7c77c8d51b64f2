-- Load: 64 sessions held by 64 processes, 16 secondaries registering 1,000
-- files each into one session at once, and 10,000 start/end cycles that
-- must leave no descriptor, memory or store entry behind.
local H = require "spec.helpers"

-- 64-bit FNV-1a, as the store's records carry it (integers wrap in Lua 5.4).
local function fnv1a(s)
  local h = -3750763034362895579 -- 0xcbf29ce484222325
  for i = 1, #s do
    h = h ~ s:byte(i)
    h = h * 0x100000001b3
  end
  return h
end

-- The entries of a session's records file, read independently of the
-- module: each record is "\0RMR2 <length> <hash>\n", the payload (entries
-- ending in NUL) and "\n". Returns the entries and how many records did not
-- check out.
local function read_records(data)
  local entries, bad, pos = {}, 0, 1
  while pos <= #data do
    local s, e, len, hash = data:find("^%zRMR2 (%d+) (%x+)\n", pos)
    if not s then
      bad = bad + 1
      local nxt = data:find("\0RMR2 ", pos + 1, true)
      if not nxt then break end
      pos = nxt
    else
      len = tonumber(len)
      local payload = data:sub(e + 1, e + len)
      if #payload ~= len or data:sub(e + len + 1, e + len + 1) ~= "\n"
          or ("%016x"):format(fnv1a(payload)) ~= hash then
        bad = bad + 1
      else
        for entry in payload:gmatch("([^%z]+)%z") do entries[#entries + 1] = entry end
      end
      pos = e + len + 2
    end
  end
  return entries, bad
end

-- The set of pids a list holds.
local function pid_set_of(apps)
  local t = {}
  for _, a in ipairs(apps) do t[a.pid] = true end
  return t
end

-- This process, its number of open descriptors and its resident size in
-- kB, as the kernel counts them.
local function self_pid()
  return tonumber(H.read("/proc/self/stat"):match("^(%d+)"))
end

local function fd_count(pid)
  local out = H.sh("ls /proc/" .. pid .. "/fd | wc -l")
  return tonumber(out)
end

-- What this process's descriptors point at, for the message of a failure.
local function fd_targets(pid)
  return H.sh("for f in /proc/" .. pid .. "/fd/*; do readlink \"$f\"; done | sort | tr '\\n' ' '")
end

local function rss_kb(pid)
  return tonumber(H.read("/proc/" .. pid .. "/status"):match("VmRSS:%s*(%d+)"))
end

describe("load", function()
  local core
  local dir, children

  setup(function()
    core = require "restartmanager.core"
  end)

  local fx
  before_each(function()
    fx = H.scratch()
    dir, children = fx.dir, fx.children
  end)

  after_each(function() fx.cleanup() end)

  it("holds 64 sessions started at once by 64 processes, and refuses the 65th",
    function()
      local run = dir .. "/run"
      H.sh("mkdir -m 700 " .. H.q(run))
      local env = "XDG_RUNTIME_DIR=" .. H.q(run)
      local stop = dir .. "/stop"
      local go = dir .. "/go"
      for i = 1, 64 do
        children[i] = H.spawn(([[
          local core = require "restartmanager.core"
          while not io.open(%q) do os.execute("sleep 0.01") end
          local s, key, code = core.start_session()
          print(s and ("key=" .. key) or ("failed=" .. code)) io.flush()
          while not io.open(%q) do os.execute("sleep 0.05") end
          print("end", s and s:end_session())
        ]]):format(go, stop), { env = env })
      end
      H.write(go, "")
      local keys = {}
      for i = 1, 64 do
        local out = children[i].wait_line("(%a+=%x+)", 60)
        local key = out:match("^key=(%x+)")
        assert.is_not_nil(key, "process " .. i .. ": " .. out)
        assert.is_nil(keys[key], "a key given twice")
        keys[key] = true
      end
      assert.same(keys, H.store_keys(run .. "/restartmanager"))
      local out, rc = H.lua([[
        local core = require "restartmanager.core"
        print(select(3, core.start_session()))
      ]], { env = env })
      assert.equal(0, rc, out)
      assert.equal("353\n", out)
      H.write(stop, "")
      for i = 1, 64 do children[i].wait_line("end\ttrue", 30) end
      assert.same({}, H.store_keys(run .. "/restartmanager"))
    end)

  it("sees every one of 16,000 files that 16 secondaries registered at once",
    function()
      local per, secondaries = 1000, 16
      local s <close>, key = assert(core.start_session())
      local want, holders = {}, {}
      for k = 1, secondaries do
        local sub = dir .. "/s" .. k
        H.sh("mkdir " .. H.q(sub) .. " && cd " .. H.q(sub)
          .. " && seq 1 " .. per .. " | xargs touch")
        local paths = {}
        for i = 1, per do
          paths[i] = sub .. "/" .. i
          want[paths[i]] = true
        end
        -- this secondary's files, all held by one process of its own
        holders[k] = H.holder("open " .. table.concat(paths, " "))
        children[#children + 1] = holders[k]
      end
      local go = dir .. "/go"
      for k = 1, secondaries do
        children[#children + 1] = H.spawn(([[
          local core = require "restartmanager.core"
          local s = assert(core.join_session(%q))
          local sub, per = %q, %d
          while not io.open(%q) do os.execute("sleep 0.01") end
          -- in batches of 100: many writers append at the same time
          for b = 0, per - 1, 100 do
            local files = {}
            for i = b + 1, b + 100 do files[#files + 1] = sub .. "/" .. i end
            assert(s:register_resources(files))
          end
          print("registered") io.flush()
          assert(s:end_session())
        ]]):format(key, dir .. "/s" .. k, per, go))
      end
      local t0 = os.time()
      H.write(go, "")
      for k = 1, secondaries do
        children[secondaries + k].wait_line("registered", 120)
      end
      local apps = assert(s:get_list(100000))
      local listed = pid_set_of(apps)
      for k = 1, secondaries do
        assert.is_true(listed[holders[k].pid] == true,
          "secondary " .. k .. "'s holder is not listed")
      end
      assert.equal(secondaries, #apps, "more apps than holders were listed")
      -- every registration is in the store once, whole
      local entries, bad = read_records(assert(H.read(H.store() .. "/" .. key
        .. "/records")))
      assert.equal(0, bad)
      local seen, count = {}, 0
      for _, e in ipairs(entries) do
        local path = e:match("^Ff:%d+:%d+:(.*)$")
        assert.is_not_nil(path, "not a registered file: " .. e)
        assert.is_true(want[path], "never registered: " .. path)
        assert.is_nil(seen[path], "registered twice: " .. path)
        seen[path] = true
        count = count + 1
      end
      assert.equal(per * secondaries, count)
      assert.is_true(os.time() - t0 < 120)
    end)

  it("leaves no descriptor, memory or store entry behind after 10,000 start/end cycles",
    function()
      local pid = self_pid()
      local f = dir .. "/f"
      H.write(f, "f")
      local function cycles(n)
        for _ = 1, n do
          local s, key = core.start_session()
          assert(s, key)
          s:end_session()
        end
      end
      -- with a secondary and registrations; every tenth lists (a list
      -- scans every process: the costly part)
      local function full_cycles(n)
        for i = 1, n do
          local s, key = assert(core.start_session())
          local j = assert(core.join_session(key))
          assert(j:register_resources({ f }, { { pid = 1, start_time = 1 } },
            { "none" }))
          if i % 10 == 0 then assert(s:get_list(10)) end
          assert(j:end_session())
          assert(s:end_session())
        end
      end
      local keys_before = H.store_keys()
      -- warm up: the allocator and Lua's tables reach their sizes
      cycles(500)
      full_cycles(20)
      collectgarbage()
      collectgarbage()
      local fds, mem, rss = fd_count(pid), collectgarbage("count"), rss_kb(pid)
      local before = fd_targets(pid)
      cycles(10000)
      full_cycles(1000)
      collectgarbage()
      collectgarbage()
      -- 11,000 cycles: a descriptor leaked by any one of them shows as
      -- hundreds; one or two may come and go with what earlier specs left
      -- running (a child's pipe closed when it exits)
      local now = fd_count(pid)
      assert.is_true(now - fds <= 2, ("descriptors leaked: %d before, %d after\nbefore: %s\nafter:  %s")
        :format(fds, now, before, fd_targets(pid)))
      assert.is_true(collectgarbage("count") - mem < 64,
        ("Lua memory grew by %.0f kB"):format(collectgarbage("count") - mem))
      if not os.getenv("RM_SANITIZED") then
        -- (a sanitizer keeps freed memory in quarantine: RSS says nothing)
        local grown = rss_kb(pid) - rss
        assert.is_true(grown < 2048, ("resident size grew by %d kB"):format(grown))
      end
      assert.same(keys_before, H.store_keys())
    end)
end)
