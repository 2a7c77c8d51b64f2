-- What comes back, and what is left alone, when a shutdown or restart does
-- not go as planned: a kernel without pidfd_open, an interrupted restart, a
-- primary killed in the middle, an application slow to exit, a pid taken
-- over within one clock tick, two installers at once, and what a restarted
-- application inherits. Real applications (spec/helpers/), real signals.
local H = require "spec.helpers"

describe("recovery", function()
  local core, rm
  setup(function()
    core = require "restartmanager.core"
    rm = require "restartmanager"
  end)

  local fx, dir
  before_each(function()
    fx = H.scratch { fifo = true }
    dir = fx.dir
  end)
  after_each(function() fx.cleanup() end)

  local n_apps = 0
  -- The cooperative application (spec/helpers/app.lua, registered for
  -- restart) holding data; returns its state file and first start.
  local function app(data, prefix)
    n_apps = n_apps + 1
    local state = dir .. "/state" .. n_apps
    fx.track(H.start(("%s env -C %s %s %s %s %s %s %s"):format(prefix or "",
      H.q(dir), H.lua_env(), H.LUA, H.q(H.ROOT .. "/spec/helpers/app.lua"),
      H.q(state), H.q(data), H.q(fx.fifo))))
    return state, H.wait_app_starts(state, 1)[1]
  end

  -- How many of the starts written to the state files still run.
  local function running(states)
    local n = 0
    for _, state in ipairs(states) do
      for _, s in ipairs(H.app_starts(state)) do
        if H.alive(s.pid) then n = n + 1 end
      end
    end
    return n
  end

  -- The slow_exit helper: registered for restart, exits ms after SIGTERM.
  local function slow_app(data, ms)
    n_apps = n_apps + 1
    local state = dir .. "/state" .. n_apps
    local c = fx.track(H.start(("env %s %s %d %s %s"):format(H.lua_env(),
      H.q(H.BUILD .. "/helpers/slow_exit"), ms, H.q(state), H.q(data))))
    c.wait_line("ready (%d+)")
    return state, c
  end

  -- Kills, at cleanup, the instances of the app of a state file that
  -- still run (restarted instances are not the spec's children): those
  -- that have the state file on their command line, never a pid the file
  -- names that another program has now.
  local function reap(state)
    fx.track({ kill = function()
      for _, pid in ipairs(H.running_with(state)) do H.kill_now(pid) end
    end })
  end

  -- A primary that registers data and is killed (SIGKILL) during its forced
  -- shutdown, from its progress callback: at "first" (the first report),
  -- "some" (once something was stopped) or "all" (everything stopped).
  local function killed_mid_shutdown(data, at)
    local out = H.lua(([[
      local core = require "restartmanager.core"
      local me = io.open("/proc/self/stat"):read("l"):match("^%%d+")
      local s = assert(core.start_session())
      assert(s:register_resources({ %q }))
      local at = %q
      s:shutdown(core.shutdown.force, function(p)
        if (at == "first") or (at == "some" and p > 0)
            or (at == "all" and p == 100) then
          os.execute("kill -KILL " .. me)
        end
      end, 5000)
      print("not killed")
    ]]):format(data, at))
    assert.not_matches("not killed", out)
  end

  describe("without pidfd_open", function()
    for _, err in ipairs { "ENOSYS", "EPERM" } do
      it("(" .. err .. ") a shutdown never reports success while the holder runs",
        function()
          local f = fx.file("held")
          local h = fx.holder("open " .. H.q(f))
          local out, rc = H.sh(H.q(H.BUILD .. "/helpers/deny") .. " pidfd_open " .. err
            .. " env " .. H.lua_env() .. " " .. H.LUA .. " -e " .. H.q(([[
            local core = require "restartmanager.core"
            local rm = require "restartmanager"
            local s = assert(core.start_session())
            assert(s:register_resources({ %q }))
            local ok, msg, code = s:shutdown(core.shutdown.force, nil, 1000)
            print("shutdown", ok, code, msg)
            s:end_session()
            local called = false
            ok, msg, code = rm.update({ files = { %q } }, function() called = true end,
              { force = true, timeout = 1 })
            print("update", ok, code, "called", called)
          ]]):format(f, f)) .. " 2>&1")
          assert.equal(0, rc, out)
          if h.alive() then
            assert.not_matches("shutdown\ttrue", out)
            assert.matches("shutdown\tnil\t%d+\t.*pidfd", out)
            assert.matches("update\tnil\t%d+\tcalled\tfalse\n", out)
          end
        end)
    end
  end)

  describe("an interrupted restart", function()
    it("followed by another restart starts no duplicate", function()
      local data = fx.file("data")
      local s1 = app(data)
      local s2 = app(data)
      reap(s1)
      reap(s2)
      local s <close> = assert(core.start_session())
      assert.is_true(s:register_resources({ data }))
      assert.is_true(s:shutdown(core.shutdown.force, nil, 5000))
      assert.equal(0, running { s1, s2 })
      local ok = pcall(s.restart, s, function(p)
        if p > 0 and p < 100 then error("interrupted") end
      end)
      assert.is_false(ok)
      -- the second restart brings back what the first did not
      s:restart()
      H.wait_app_starts(s1, 2)
      H.wait_app_starts(s2, 2)
      assert.equal(2, running { s1, s2 })
      -- two first starts, and each app restarted once
      assert.equal(4, #H.app_starts(s1) + #H.app_starts(s2))
    end)

    it("by a progress function of rm.update still restarts everything",
      function()
        local data = fx.file("data")
        local s1 = app(data)
        local s2 = app(data)
        reap(s1)
        reap(s2)
        local ok, err = pcall(rm.update, { files = { data } }, function() end, {
          force = true, timeout = 5,
          progress = function(p, phase)
            if phase == "restart" and p > 0 then error("progress broke") end
          end })
        assert.is_false(ok)
        assert.matches("progress broke", err)
        H.wait_app_starts(s1, 2)
        H.wait_app_starts(s2, 2)
        assert.equal(2, running { s1, s2 })
      end)
  end)

  describe("a primary killed in the middle of a shutdown", function()
    it("leaves a record the next session of its user restarts from",
      function()
        local data = fx.file("data")
        local s1 = app(data)
        local s2 = app(data)
        reap(s1)
        reap(s2)
        killed_mid_shutdown(data, "some")
        pcall(H.wait_for, function() return running { s1, s2 } == 0 end, "")
        assert.equal(0, running { s1, s2 }, "the shutdown did not stop them")
        -- the next session of that user finds the stale session
        local s = assert(core.start_session())
        s:end_session()
        H.wait_app_starts(s1, 2)
        H.wait_app_starts(s2, 2)
        assert.equal(2, running { s1, s2 })
      end)
  end)

  describe("an explicit recovery", function()
    it("restarts what a primary killed mid-shutdown stopped, and says what",
      function()
        local data = fx.file("data")
        local s1, first = app(data)
        reap(s1)
        killed_mid_shutdown(data, "all")
        assert.is_true(H.gone(first.pid, 10), "the shutdown did not stop it")
        local json = H.cli("recover --json")
        local doc = require("restartmanager.json").decode(json)
        assert.is_true(doc.ok, json)
        assert.equal("recover", doc.command)
        assert.equal(1, #doc.recovered, json)
        local e = doc.recovered[1]
        assert.equal(first.pid, e.pid)
        assert.is_true(e.started)
        assert.matches("lua", e.exe)
        local starts = H.wait_app_starts(s1, 2)
        assert.is_true(H.alive(starts[2].pid))
        if e.new_pid > 0 then assert.equal(starts[2].pid, e.new_pid) end
        -- done once: the record is gone with the stale session
        local text, _, rc = H.cli("recover")
        assert.equal(0, rc)
        assert.equal("nothing to recover\n", text)
        assert.same({}, assert(rm.recover()))
      end)
  end)

  describe("primaries killed at each point of a shutdown", function()
    -- before any signal (0 %), after the first application stopped, after
    -- all did (100 %): three rounds of each
    local ROUNDS = 9

    it("leave no application down once the next session starts (" .. ROUNDS
      .. " rounds)", function()
      for round = 1, ROUNDS do
        local at = ({ "first", "some", "all" })[(round - 1) % 3 + 1]
        local data = fx.file("data" .. round)
        local s1 = app(data)
        local s2 = app(data)
        reap(s1)
        reap(s2)
        killed_mid_shutdown(data, at)
        local s = assert(core.start_session())
        s:end_session()
        -- each app runs: the first instance (never stopped) or a restart
        for _, state in ipairs { s1, s2 } do
          local up
          pcall(H.wait_for, function()
            up = 0
            for _, st in ipairs(H.app_starts(state)) do
              if H.alive(st.pid) then up = up + 1 end
            end
            return up > 0
          end, "")
          assert.equal(1, up, ("round %d (%s): %s"):format(round, at,
            H.read(state) or ""))
        end
      end
    end)
  end)

  describe("an application slower than the timeout to exit", function()
    it("is restarted once it has exited", function()
      local data = fx.file("data")
      local state, c = slow_app(data, 1500)
      reap(state)
      local ok, _, code = rm.update({ files = { data } }, function() end,
        { timeout = 0.3 })
      assert.is_nil(ok)
      assert.equal(351, code)
      assert.is_true(H.gone(c.pid))
      local starts = H.wait_app_starts(state, 2)
      assert.is_true(H.alive(starts[2].pid))
    end)
  end)

  describe("a registered process whose pid is taken within one clock tick", function()
    it("is not confused with the newcomer", function()
      if not H.is_root() then
        pending("needs root to choose a pid")
        return
      end
      local holder = H.BUILD .. "/helpers/holder"
      local s = assert(core.start_session())
      H.finally(finally, function() s:end_session() end)
      for round = 1, 20 do
        local trigger = dir .. "/go" .. round
        local stamp = dir .. "/stamp" .. round
        local c = fx.track(H.start(H.q(H.BUILD .. "/helpers/reuse_pid") .. " "
          .. H.q(trigger) .. " " .. H.q(holder) .. " stamp " .. H.q(stamp) .. " idle"))
        -- within the first process's clock tick: read its identity,
        -- register it, and let the newcomer take its pid
        local pid, start
        repeat
          local f = io.open(c.out)
          local text = f and f:read("a") or ""
          if f then f:close() end
          pid, start = text:match("first (%d+) (%d+)")
        until pid
        pid, start = tonumber(pid), tonumber(start)
        assert.is_true(s:register_resources(nil, { { pid = pid, start_time = start } }))
        io.open(trigger, "w"):close()
        c.wait_line("second %d+")
        c.wait_line("ready %d+")
        local newcomer = H.start_time(pid)
        fx.track({ kill = function() H.kill(pid, newcomer) end })
        local now = core.process(pid)
        if now and now.start_time == start then
          -- the same pid and start time: only the process's identity
          -- tells them apart
          assert.same({}, assert(s:get_list(10)))
          s:shutdown(core.shutdown.force, nil, 300)
          assert.is_true(H.alive(pid), "the newcomer was killed")
          -- (the holder creates its stamp file at once, and writes it on
          -- SIGTERM)
          assert.is_true(H.read(stamp) == nil or H.read(stamp) == "",
            "the newcomer got SIGTERM")
          return
        end
        H.sh("kill -KILL " .. pid)
        s:end_session()
        s = assert(core.start_session())
      end
      pending("no round gave the newcomer the same start time")
    end)
  end)

  describe("a listed process whose pid is taken between the list and the signal", function()
    -- The installer lists a registered process, which then dies; another
    -- process takes its pid within the same clock tick (same start time).
    -- spec/helpers/pin_race.so, preloaded into the installer, only times
    -- the race: it lets reuse_pid kill the process and start the newcomer
    -- at its pid, then the call goes on. At "signal": at the second
    -- pidfd_open of that pid (the shutdown opening it again after its
    -- list) or the first signal through a pidfd on it; the pidfs inode the
    -- registration carries was checked by the list, when the process still
    -- ran: only the pidfd the list kept tells them apart. At "open": at the
    -- first pidfd_open of that pid, when the scan, having found the
    -- process without a pidfd, opens one on the hit: the pidfd then names
    -- the newcomer, and only the scan's second look through it, after the
    -- open, tells that it is not the process found. With held set, the
    -- process is found by a file it holds open (reuse_pid -f), which the
    -- newcomer does not: only the second look at that descriptor, after
    -- the open, tells them apart.
    local function race(at, held)
      if not H.is_root() then
        pending("needs root to choose a pid")
        return
      end
      local asan = os.getenv("ASAN_OPTIONS")
      local env = "LD_PRELOAD=" .. H.q(H.BUILD .. "/helpers/pin_race.so")
        .. " ASAN_OPTIONS=" .. H.q((asan and asan .. ":" or "")
          .. "verify_asan_link_order=0")
        .. (at == "open" and " RM_RACE_AT=open" or "")
      for round = 1, 100 do
        local rdir = dir .. "/" .. at .. (held and "held" or "") .. "round" .. round
        assert(H.sh("mkdir " .. H.q(rdir) .. " && echo ok"):find("ok"))
        local c = fx.track(H.spawn(([[
          local core = require "restartmanager.core"
          local dir = %q
          local held = %s
          local s = assert(core.start_session())
          if held then assert(io.open(dir .. "/held", "w")):close() end
          os.execute(("env -u LD_PRELOAD %%s -a %%s %%s %%s stamp %%s idle >%%s 2>&1 & "
            .. "echo $! >%%s")
            :format(%q, held and "-f " .. dir .. "/held" or "", dir .. "/go", %q,
              dir .. "/stamp", dir .. "/out", dir .. "/reuse.pid"))
          local pid, start
          repeat
            local f = io.open(dir .. "/out")
            local text = f and f:read("a") or ""
            if f then f:close() end
            pid, start = text:match("first (%%d+) (%%d+)")
          until pid
          pid, start = tonumber(pid), tonumber(start)
          if held then
            assert(s:register_resources({ dir .. "/held" }))
          else
            assert(s:register_resources(nil, { { pid = pid, start_time = start } }))
          end
          local f = assert(io.open(dir .. "/pid.tmp", "w"))
          f:write(pid)
          f:close()
          assert(os.rename(dir .. "/pid.tmp", dir .. "/pid"))
          local ok, msg, code = s:shutdown(core.shutdown.force, nil, 300)
          print("shutdown", pid, start, ok, code, msg)
          s:end_session()
        ]]):format(rdir, tostring(held or false), H.BUILD .. "/helpers/reuse_pid",
          H.BUILD .. "/helpers/holder"),
          { env = env .. " RM_RACE_DIR=" .. H.q(rdir) }))
        -- reuse_pid and its first process, still there when a round
        -- fails before the newcomer is tracked: ended by their pids, each
        -- only while it still runs reuse_pid
        fx.track({ kill = function()
          local out = H.read(rdir .. "/out") or ""
          for _, p in ipairs({ (H.read(rdir .. "/reuse.pid") or ""):match("%d+"),
            out:match("first (%d+)") }) do
            p = tonumber(p)
            if p and H.cmdline(p)[1] == H.BUILD .. "/helpers/reuse_pid" then
              H.kill_now(p)
            end
          end
        end })
        c.wait_line("shutdown", 60)
        local pid, start, ok = c.output():match("shutdown%s+(%d+)%s+(%d+)%s+(%S+)")
        local newcomer = H.read(rdir .. "/out"):match("second (%d+ %d+)")
        if not newcomer and H.read(rdir .. "/out"):match("reuse_pid: pid") then
          pending("a pid cannot be chosen here: " .. H.read(rdir .. "/out"))
          return
        end
        assert.is_truthy(newcomer, H.read(rdir .. "/out"))
        local npid, nstart = newcomer:match("(%d+) (%d+)")
        assert.equal(pid, npid)
        local since = H.start_time(pid)
        fx.track({ kill = function() H.kill(pid, since) end })
        -- the race ran, at the shutdown's signal or its second look
        local fired = H.read(rdir .. "/fired") or ""
        assert.matches("fired", fired, c.output())
        if nstart == start then
          -- (the holder creates its stamp file at once, and writes it on
          -- SIGTERM)
          assert.is_true(H.alive(tonumber(pid)), "the newcomer was killed")
          assert.is_true(H.read(rdir .. "/stamp") == nil or H.read(rdir .. "/stamp") == "",
            "the newcomer got SIGTERM")
          if at == "open" then
            -- the pidfd was opened once, on the newcomer, which the list
            -- left out: nothing to shut down
            assert.equal("fired open\n", fired)
            assert.equal("true", ok, c.output())
          else
            -- the shutdown went as far as its signal: through the pidfd its
            -- list opened on the process, never opened again on the pid
            assert.equal("fired signal\n", fired)
          end
          return
        end
        H.sh("kill -KILL " .. pid .. " 2>/dev/null")
      end
      pending("no round gave the newcomer the same start time")
    end

    it("never signals the newcomer", function() race("signal") end)

    it("never lists a newcomer that takes the pid as the scan opens its pidfd",
      function() race("open") end)

    it("never lists a newcomer that takes the pid of a file's holder as the scan opens its pidfd",
      function() race("open", true) end)
  end)

  describe("a holder whose main thread has exited", function()
    it("is forced when it does not stop", function()
      local f = fx.file("held")
      local h = fx.track(H.start(H.q(H.BUILD .. "/helpers/thread_exit") .. " " .. H.q(f)))
      h.wait_line("ready (%d+)")
      local ok, plan = rm.close({ files = { f } }, { force = true, timeout = 0.3 })
      assert.is_true(H.gone(h.pid), "it still runs")
      assert.is_true(ok, plan)
      assert.equal("forced", plan.apps[1].outcome)
    end)
  end)

  describe("two installers updating the same file at once", function()
    it("restart the application once", function()
      local data = fx.file("data")
      local state = slow_app(data, 1000)
      reap(state)
      local go = dir .. "/go"
      local code = ([[
        local rm = require "restartmanager"
        while not io.open(%q) do os.execute("sleep 0.01") end
        local ok, _, code = rm.update({ files = { %q } }, function() end,
          { force = true, timeout = 5 })
        print("done", ok, code)
      ]]):format(go, data)
      local a = fx.track(H.spawn(code))
      local b = fx.track(H.spawn(code))
      H.write(go, "")
      a.wait_line("done", 30)
      b.wait_line("done", 30)
      -- both installers have returned: every restart they made has run
      -- its program (a restart waits for the exec); count the instances
      local instances = H.sh("for f in $(grep -l -s -F " .. H.q(state)
        .. " /proc/[0-9]*/cmdline); do readlink ${f%/cmdline}/exe; done"
        .. " | grep -c /slow_exit$")
      assert.equal(1, tonumber(instances), a.output() .. b.output())
      H.wait_app_starts(state, 2)
    end)
  end)

  describe("a restarted application", function()
    it("keeps its own umask, limits, nice value and every group",
      function()
        if not H.is_root() then
          pending("needs root for many groups")
          return
        end
        local data = fx.file("data")
        local state = dir .. "/probe"
        local groups = {}
        for g = 20000, 20299 do groups[#groups + 1] = g end
        fx.track(H.start("sh -c " .. H.q("umask 077; ulimit -n 512; exec nice -n 5 setpriv --groups="
          .. table.concat(groups, ",") .. " env -C " .. H.q(dir) .. " " .. H.lua_env()
          .. " " .. H.LUA .. " " .. H.q(H.ROOT .. "/spec/helpers/probe_app.lua") .. " "
          .. H.q(state) .. " " .. H.q(data) .. " " .. H.q(fx.fifo))))
        local first = H.wait_app_starts(state, 1)[1]
        reap(state)
        assert.equal("0077", first.umask)
        assert.equal("5", first.nice)
        assert.equal("512", first.nofile)
        assert.equal("301", first.ngroups) -- with the group of its gid
        -- the installer: umask 000, nice 0, its own limits
        local out, rc = H.sh("sh -c " .. H.q("umask 000; exec env " .. H.lua_env() .. " "
          .. H.LUA .. " -e " .. H.q(([[
            local rm = require "restartmanager"
            print(rm.update({ files = { %q } }, function() end, { timeout = 5 }))
          ]]):format(data))) .. " 2>&1")
        assert.equal(0, rc, out)
        local again = H.wait_app_starts(state, 2)[2]
        assert.same({ "0077", "5", "512", "301" },
          { again.umask, again.nice, again.nofile, again.ngroups })
      end)

    it("is found registered behind more than 64 KiB of environment",
      function()
        local data = fx.file("data")
        local _, first = app(data, "env -u XDG_RUNTIME_DIR BIG=" .. ("x"):rep(70000)
          .. " XDG_RUNTIME_DIR=" .. H.q(os.getenv("XDG_RUNTIME_DIR")))
        local apps = assert(rm.who_uses({ data }))
        assert.equal(first.pid, apps[1] and apps[1].pid)
        assert.is_true(apps[1].restartable)
      end)
  end)

  describe("the Lua layer", function()
    it("registers all of a large set or none of it, and names the index",
      function()
        local files = {}
        for i = 1, 5000 do files[i] = dir .. "/f" .. i end
        files[4500] = "/bad\0path"
        local s <close> = assert(rm.start())
        local ok, err = pcall(s.register, s, { files = files })
        assert.is_false(ok)
        assert.matches("index 4500", err)
        local records = H.read(H.store() .. "/" .. s.key .. "/records")
        assert.is_true(records == nil or records == "", "a part was registered")
      end)

    it("refuses a timeout the core cannot take before it stops anything",
      function()
        local f = fx.file("held")
        local h = fx.holder("open " .. H.q(f))
        local steps = {}
        local ok, err = pcall(rm.update, { files = { f } }, function() end,
          { timeout = 3e6, on_step = function(r) steps[#steps + 1] = r.step end })
        assert.is_false(ok)
        assert.matches("bad option 'timeout'", err)
        assert.same({}, steps, "it had begun")
        assert.is_true(h.alive())
      end)
  end)
end)
