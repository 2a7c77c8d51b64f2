-- Faults, with real processes and real signals: a secondary killed in the
-- middle of its registrations, processes that come and go during the scan,
-- a process out of file descriptors, a store on a full file system.
local H = require "spec.helpers"

-- Waits until f() is true (polling), at most `seconds`.
local function wait_for(f, seconds, what)
  local deadline = os.time() + (seconds or 10)
  repeat
    if f() then return end
    H.sh("sleep 0.01")
  until os.time() > deadline
  error("timed out waiting for " .. what)
end

-- The set of pids a list holds.
local function pid_set(apps)
  local t = {}
  for _, a in ipairs(apps) do t[a.pid] = true end
  return t
end

describe("faults", function()
  local core
  local dir, children

  setup(function()
    core = require "restartmanager.core"
  end)

  local fx, holder, file
  before_each(function()
    fx = H.scratch()
    dir, children, holder, file = fx.dir, fx.children, fx.holder, fx.file
  end)

  after_each(function() fx.cleanup() end)



  it("counts every batch a secondary finished before it was SIGKILLed mid-registration",
    function()
      -- batch i registers held/i (held by holder i) and 4,000 other paths
      local n, fill = 30, 4000
      H.sh("mkdir " .. H.q(dir .. "/held"))
      local holders = {}
      for i = 1, n do holders[i] = holder("open " .. H.q(file("held/" .. i))) end
      local code = [[
        local core = require "restartmanager.core"
        local key, dir, n, fill = %q, %q, %d, %d
        local s = assert(core.join_session(key))
        local pad = string.rep("p", 100)
        local batch = 0
        while true do
          batch = batch + 1
          local files = {}
          if batch <= n then files[1] = dir .. "/held/" .. batch end
          for k = 1, fill do
            files[#files + 1] = dir .. "/fill/" .. batch .. "/" .. pad .. k
          end
          local ok, msg = s:register_resources(files)
          if not ok then
            io.write("failed ", batch, " ", tostring(msg), "\n") io.flush()
            os.exit(1)
          end
          io.write("done ", batch, "\n") io.flush()
        end
      ]]
      for _, target in ipairs { 3, 11, 19, 26 } do
        local p, key = assert(core.start_session())
        local child = H.spawn(code:format(key, dir, n, fill))
        children[#children + 1] = child
        -- kill it as soon as it reports the target batch: it is then in
        -- the middle of a later one
        local out
        wait_for(function()
          out = child.output()
          local last = 0
          for d in out:gmatch("done (%d+)") do last = tonumber(d) end
          assert(not out:match("failed"), out)
          return last >= target
        end, 60, "batch " .. target)
        H.sh("kill -KILL " .. child.pid)
        wait_for(function() return not child.alive() end, 10, "the kill")
        out = child.output()
        local done = 0
        for d in out:gmatch("done (%d+)") do done = tonumber(d) end
        assert.is_true(done >= target)
        -- the store is readable and every finished batch is there
        local apps, msg = p:get_list(1000)
        assert.is_table(apps, msg)
        local listed = pid_set(apps)
        for i = 1, n do
          if i <= done then
            assert.is_true(listed[holders[i].pid] == true,
              ("batch %d of %d finished but its holder is not listed")
                :format(i, done))
          elseif i > done + 1 then
            assert.is_nil(listed[holders[i].pid],
              ("batch %d was never started but its holder is listed"):format(i))
          end
        end
        -- and writable: a registration after the torn one is read too
        local extra = holder("open " .. H.q(file("extra-" .. target)))
        assert.is_true(p:register_resources({ dir .. "/extra-" .. target }))
        apps = assert(p:get_list(1000))
        assert.is_true(pid_set(apps)[extra.pid])
        p:end_session()
      end
    end)

  it("lists without error while processes that use the files start and die",
    function()
      local f = file("busy")
      local steady = holder("open " .. H.q(f))
      local exe = H.BUILD .. "/helpers/holder"
      -- a churn of users of f: plain, mapped, and threads with their own
      -- descriptor tables, killed as soon as they are up
      local churn = H.start("sh -c " .. H.q(([[
        while :; do
          for i in 1 2 3 4; do
            %s open %s >/dev/null & %s mmap %s >/dev/null &
            %s thread %s >/dev/null &
          done
          sleep 0.005
          kill -KILL $(jobs -p) 2>/dev/null
          wait
        done]]):format(H.q(exe), H.q(f), H.q(exe), H.q(f), H.q(exe), H.q(f))))
      H.finally(finally, function()
        -- the loop first, then every holder it left (found by their file)
        H.sh("kill -KILL " .. churn.pid .. "; sleep 0.05; pkill -KILL -f "
          .. H.q(f))
      end)
      local s <close> = assert(core.start_session())
      assert.is_true(s:register_resources({ f }))
      local others, lists = {}, 0
      local t0 = os.time()
      while lists < 150 or os.time() - t0 < 3 do
        local apps, msg, code = s:get_list(10000)
        assert.is_table(apps, ("list %d: %s (%s)"):format(lists + 1,
          tostring(msg), tostring(code)))
        local listed = pid_set(apps)
        assert.is_true(listed[steady.pid], "the steady holder was missed")
        for _, a in ipairs(apps) do
          assert.is_true(a.pid > 0 and a.start_time > 0)
          if a.pid ~= steady.pid then others[a.pid] = true end
        end
        lists = lists + 1
        if os.time() - t0 > 30 then break end
      end
      -- the churn really overlapped the scans
      local seen = 0
      for _ in pairs(others) do seen = seen + 1 end
      assert.is_true(seen > 0, "no short-lived user was ever seen")
      assert.is_true(churn.alive())
    end)

  it("reports running out of file descriptors as error 4, never a crash or a clean list",
    function()
      local f = file("held-while-short")
      local h = holder("open " .. H.q(f))
      local code = [[
        local ok, core = pcall(require, "restartmanager.core")
        if not ok then print("require") return end
        local function r(ok_, _, c) return ok_ and "ok" or tostring(c) end
        local s, _, c = core.start_session()
        if not s then print("start=" .. c) return end
        io.write("start=ok reg=", r(s:register_resources({ %q })))
        local apps, _, lc = s:get_list(1000)
        if apps then
          local pids = {}
          for _, a in ipairs(apps) do pids[#pids + 1] = a.pid end
          io.write(" list=[", table.concat(pids, ","), "]")
        else
          io.write(" list=", lc)
        end
        print(" end=" .. r(s:end_session()))
      ]]
      local failures, found = 0, 0
      local limits = {}
      for n = 4, 24 do limits[#limits + 1] = n end
      for _, n in ipairs { 32, 48, 64, 256 } do limits[#limits + 1] = n end
      for _, n in ipairs(limits) do
        local out, rc = H.lua(code:format(f), { prefix = "prlimit --nofile=" .. n })
        assert.equal(0, rc, ("nofile %d: %s"):format(n, out))
        -- every failure is 4; a list that succeeds has the holder
        for word, value in out:gmatch("(%a+)=(%S+)") do
          if word == "list" and value:sub(1, 1) == "[" then
            assert.matches("[%[,]" .. h.pid .. "[,%]]", value,
              ("nofile %d: the holder is missing from %s"):format(n, value))
            found = found + 1
          else
            assert.is_true(value == "ok" or value == "4",
              ("nofile %d: %s gave %s"):format(n, word, value))
            if value == "4" then failures = failures + 1 end
          end
        end
      end
      -- the limits crossed the point where the module runs out
      assert.is_true(failures > 0, "no limit was low enough")
      assert.is_true(found > 0, "no limit was high enough")
    end)

  it("stops nothing and says 4 when a shutdown runs out of descriptors",
    function()
      local f = file("held-by-twelve")
      local holders = {}
      for i = 1, 12 do holders[i] = holder("open " .. H.q(f)) end
      local code = [[
        local ok, core = pcall(require, "restartmanager.core")
        if not ok then print("require") return end
        local s = core.start_session()
        if not s then print("start") return end
        if not s:register_resources({ %q }) then print("register") return end
        local apps = s:get_list(100)
        if not apps then print("list") return end
        local done, _, code = s:shutdown(0, nil, 5000)
        local alive = 0
        for _, a in ipairs(apps) do
          local st = io.open("/proc/" .. a.pid .. "/stat")
          if st then
            if not st:read("a"):match("^%%d+ %%b() Z") then alive = alive + 1 end
            st:close()
          end
        end
        print(("shutdown=%%s listed=%%d alive=%%d"):format(done and "ok" or code,
          #apps, alive))
      ]]
      local short, stopped = 0, false
      for n = 8, 64 do
        local out, rc = H.lua(code:format(f), { prefix = "prlimit --nofile=" .. n })
        assert.equal(0, rc, ("nofile %d: %s"):format(n, out))
        local result, listed, alive = out:match("shutdown=(%w+) listed=(%d+) alive=(%d+)")
        if result then
          listed, alive = tonumber(listed), tonumber(alive)
          assert.equal(12, listed, out)
          if result == "ok" then
            -- a shutdown that succeeds stopped every one of them
            assert.equal(0, alive, ("nofile %d: %s"):format(n, out))
            stopped = true
            break
          end
          assert.equal("4", result, ("nofile %d: %s"):format(n, out))
          assert.equal(12, alive, ("nofile %d: signalled before failing: %s"):format(n, out))
          short = short + 1
        end
      end
      assert.is_true(short > 0, "no limit was low enough to fail the shutdown")
      assert.is_true(stopped, "no limit was high enough for the shutdown")
      for _, h in ipairs(holders) do assert.is_false(h.alive()) end
    end)

  describe("a store on a full file system", function()
    local mnt

    before_each(function()
      mnt = nil
      if not H.is_root() then return end
      mnt = dir .. "/run"
      H.sh("mkdir -m 700 " .. H.q(mnt))
      local _, rc = H.sh("mount -t tmpfs -o size=512k,mode=0700 tmpfs " .. H.q(mnt))
      assert.equal(0, rc)
    end)

    after_each(function()
      if mnt then H.sh("umount " .. H.q(mnt)) end
    end)

    it("refuses a registration that does not fit with 29, and never reads it back",
      function()
        if not mnt then
          pending("needs root to mount a small file system")
          return
        end
        H.sh("mkdir " .. H.q(dir .. "/held"))
        local holders = {}
        for i = 1, 12 do holders[i] = holder("open " .. H.q(file("held/" .. i))) end
        local out, rc = H.lua(([[
          local core = require "restartmanager.core"
          local dir = %q
          local s, key = assert(core.start_session())
          local records = os.getenv("XDG_RUNTIME_DIR") .. "/restartmanager/"
            .. key .. "/records"
          local function size()
            local f = io.open(records, "rb")
            if not f then return 0 end
            local n = f:seek("end") f:close() return n
          end
          local pad = string.rep("q", 100)
          -- batches of about 110 kB until one does not fit
          local i = 0
          repeat
            i = i + 1
            local files = { dir .. "/held/" .. i }
            for k = 1, 1000 do files[k + 1] = dir .. "/none/" .. pad .. k end
            local before = size()
            local ok, msg, code = s:register_resources(files)
            if ok then
              print("ok", i)
            else
              print("fail", i, code, before == size() and "cut" or "torn", msg)
            end
          until not ok or i == 11
          -- a small one still fits after the failed one
          print("small", i + 1, s:register_resources({ dir .. "/held/" .. (i + 1) }))
          local apps = assert(s:get_list(1000))
          local pids = {}
          for _, a in ipairs(apps) do pids[#pids + 1] = a.pid end
          print("listed", table.concat(pids, ","))
          assert(s:end_session())
        ]]):format(dir), { env = "XDG_RUNTIME_DIR=" .. H.q(mnt) })
        assert.equal(0, rc, out)
        local failed, code, state = out:match("\nfail\t(%d+)\t(%d+)\t(%a+)")
        assert.is_not_nil(failed, "no registration failed: " .. out)
        failed = tonumber(failed)
        assert.equal("29", code)
        assert.equal("cut", state, "the failed record was left in the store")
        assert.matches("ERROR_WRITE_FAULT %(29%)", out)
        assert.matches("\nsmall\t" .. (failed + 1) .. "\ttrue\n", out)
        local listed = {}
        for pid in out:match("listed\t([%d,]*)"):gmatch("%d+") do
          listed[tonumber(pid)] = true
        end
        for i = 1, failed + 1 do
          if i == failed then
            assert.is_nil(listed[holders[i].pid], "the failed batch was read")
          else
            assert.is_true(listed[holders[i].pid] == true,
              "batch " .. i .. " is missing")
          end
        end
      end)

    it("Session:register registers nothing of a list the store cannot take whole",
      function()
        if not mnt then
          pending("needs root to mount a small file system")
          return
        end
        H.sh("mkdir " .. H.q(dir .. "/held"))
        local first = holder("open " .. H.q(file("held/first")))
        local last = holder("open " .. H.q(file("held/last")))
        local later = holder("open " .. H.q(file("held/later")))
        -- 131,074 paths of about 36 bytes each in the store: about 4.7 MB,
        -- more than a 3 MB file system holds; the first 65,536 alone would
        -- fit (2.4 MB)
        local _, mrc = H.sh("mount -o remount,size=3m " .. H.q(mnt))
        assert.equal(0, mrc)
        local out, rc = H.lua(([[
          local rm = require "restartmanager"
          local dir = %q
          local s = assert(rm.start())
          local records = os.getenv("XDG_RUNTIME_DIR") .. "/restartmanager/"
            .. s.key .. "/records"
          local function size()
            local f = io.open(records, "rb")
            if not f then return 0 end
            local n = f:seek("end") f:close() return n
          end
          local files = { dir .. "/held/first" }
          for k = 1, 131072 do files[k + 1] = "/n/" .. string.rep("q", 20) .. k end
          files[#files + 1] = dir .. "/held/last"
          local before = size()
          local ok, msg, code = s:register { files = files }
          print("register", ok, code, size() - before, msg)
          -- the store still takes a small one
          print("small", s:register { files = { dir .. "/held/later" } })
          local apps = assert(s:list())
          local pids = {}
          for _, a in ipairs(apps) do pids[#pids + 1] = a.pid end
          print("listed", table.concat(pids, ","))
          s:close()
        ]]):format(dir), { env = "XDG_RUNTIME_DIR=" .. H.q(mnt) })
        assert.equal(0, rc, out)
        assert.matches("\nregister\tnil\t29\t0\t", "\n" .. out)
        assert.matches("\nsmall\ttrue\n", out)
        local listed = {}
        for pid in out:match("listed\t([%d,]*)"):gmatch("%d+") do
          listed[tonumber(pid)] = true
        end
        assert.is_nil(listed[first.pid], "the list's first entry was registered")
        assert.is_nil(listed[last.pid], "the list's last entry was registered")
        assert.is_true(listed[later.pid], out)
      end)

    it("gives 29 when the store has no room at all, and lists nothing",
      function()
        if not mnt then
          pending("needs root to mount a small file system")
          return
        end
        local f = file("held-full")
        local h = holder("open " .. H.q(f))
        -- the store and a session directory exist; then the disk fills
        local out, rc = H.lua(([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          os.execute("dd if=/dev/zero of=" .. os.getenv("XDG_RUNTIME_DIR")
            .. "/ballast bs=4k 2>/dev/null")
          print("reg", s:register_resources({ %q }))
          local apps, msg, code = s:get_list(100)
          print("list", apps and #apps or code)
          print("end", s:end_session())
        ]]):format(f), { env = "XDG_RUNTIME_DIR=" .. H.q(mnt) })
        assert.equal(0, rc, out)
        assert.matches("^reg\tnil\tERROR_WRITE_FAULT %(29%)[^\n]*\t29\n", out)
        assert.matches("\nlist\t0\n", out)
        assert.matches("\nend\ttrue\n", out)
        assert.is_true(h.alive())
      end)
  end)
end)
