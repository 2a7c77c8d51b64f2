-- Shutdown, restart, filters and cancel on Linux, with real applications,
-- real signals and real restarts.
local H = require "spec.helpers"

describe("shutdown and restart", function()
  local core, rm
  local dir, fifo, children, bystander

  setup(function()
    core = require "restartmanager.core"
    rm = require "restartmanager"
  end)

  before_each(function()
    dir = H.tmpdir()
    H.sh("chmod 777 " .. H.q(dir))
    fifo = dir .. "/fifo"
    H.sh("mkfifo -m 666 " .. H.q(fifo))
    children = {}
    -- a process that uses nothing registered: never to be touched
    bystander = H.holder("open " .. H.q(H.BUILD .. "/helpers/holder"))
    children[#children + 1] = bystander
  end)

  after_each(function()
    assert.is_true(bystander.alive(), "a process outside the list was hit")
    for _, c in ipairs(children) do c.kill("KILL") end
    -- restarted applications are not our children: they end when released
    H.release(fifo)
    H.sh("rm -rf " .. H.q(dir))
  end)

  local function file(name, content)
    local path = dir .. "/" .. name
    H.write(path, content or name)
    H.sh("chmod 666 " .. H.q(path))
    return path
  end

  local function holder(words, opts)
    local c = H.holder(words, opts)
    children[#children + 1] = c
    return c
  end

  -- the lines the app wrote to its state file, parsed
  local starts, wait_starts, gone = H.app_starts, H.wait_app_starts, H.gone




  -- starts the cooperative app (H.app); returns its state file, its data
  -- file and its first start
  local function app(opts)
    local a = {}
    for k, v in pairs(opts or {}) do a[k] = v end
    a.dir, a.fifo, a.words = dir, fifo, "one 'two words'"
    a.data = a.data or file("data", "old")
    a = H.app(a, function(c) children[#children + 1] = c end)
    return a.state, a.data, a.first
  end

  it("stops a cooperative app and restarts it as it registered, on the new file",
    function()
      local state, data, first = app()
      local s <close> = assert(rm.start())
      assert(s:register { files = { data } })
      local apps = assert(s:list())
      assert.equal(1, #apps)
      assert.equal(tonumber(first.pid), apps[1].pid)
      assert.is_true(apps[1].restartable)
      assert.is_true(s:shutdown { timeout = 5 })
      assert.is_true(gone(first.pid), "the app still runs")
      -- the update: the data file is replaced
      H.write(data .. ".new", "new")
      assert(os.rename(data .. ".new", data))
      assert.is_true(s:restart())
      local second = wait_starts(state, 2)[2]
      assert.not_equal(first.pid, second.pid)
      assert.equal("new", second.data)
      assert.equal(first.cwd, second.cwd)
      assert.equal(dir, second.cwd)
      assert.equal("hello", second.env)
      assert.equal("one,two words", first.args)
      assert.equal(first.args, second.args)
      -- detached: in a session of its own, stdin on /dev/null
      local session_of = function(pid)
        return H.read("/proc/" .. pid .. "/stat"):match("^%d+ %b() %a %d+ %d+ (%d+)")
      end
      local mine = H.read("/proc/self/stat"):match("^%d+ %b() %a %d+ %d+ (%d+)")
      assert.not_equal(mine, session_of(second.pid))
      assert.not_equal(session_of(first.pid), session_of(second.pid))
      assert.equal("/dev/null\n", H.sh("readlink /proc/" .. second.pid .. "/fd/0"))
    end)

  it("reports 351 and ErrorOnStop for an app that ignores SIGTERM, and kills it with force",
    function()
      local f = file("stubborn")
      local h = holder("ignore-term open " .. H.q(f))
      local s <close> = assert(rm.start())
      assert(s:register { files = { f } })
      local ok, msg, code = s:shutdown { timeout = 0.3 }
      assert.is_nil(ok)
      assert.equal(351, code)
      assert.matches("^ERROR_FAIL_SHUTDOWN %(351%)", msg)
      assert.is_true(h.alive())
      local apps = assert(s:list())
      assert.equal(h.pid, apps[1].pid)
      assert.is_true(apps[1].status & core.app_status.error_on_stop ~= 0)
      assert.is_true(s:shutdown { timeout = 0.3, force = true })
      assert.is_true(gone(h.pid))
    end)

  it("stops nothing with only_registered when one app cannot be restarted",
    function()
      local state, data, first = app()
      local h = holder("open " .. H.q(data))
      local s <close> = assert(rm.start())
      assert(s:register { files = { data } })
      local ok, _, code = s:shutdown { only_registered = true, timeout = 2 }
      assert.is_nil(ok)
      assert.equal(351, code)
      assert.is_true(h.alive())
      assert.is_not_nil(H.read("/proc/" .. first.pid .. "/stat"))
      assert.equal(1, #starts(state))
    end)

  it("keeps an app with a no_shutdown filter running", function()
    local f = file("shared")
    local kept, stopped = holder("open " .. H.q(f)), holder("open " .. H.q(f))
    local s <close> = assert(rm.start())
    assert(s:register { files = { f } })
    assert(s:filter { processes = { kept.pid }, action = "no_shutdown" })
    local apps = assert(s:list())
    local status = {}
    for _, a in ipairs(apps) do status[a.pid] = a.status end
    assert.is_true(status[kept.pid] & core.app_status.shutdown_masked ~= 0)
    assert.equal(core.app_status.running, status[stopped.pid])
    assert.is_true(s:shutdown { timeout = 5 })
    assert.is_true(kept.alive())
    assert.is_true(gone(stopped.pid))
  end)

  it("keeps an app with a no_restart filter down after the restart", function()
    local state, data, first = app()
    local s <close> = assert(rm.start())
    assert(s:register { files = { data } })
    assert(s:filter { files = { data }, action = "no_restart" })
    assert.is_true(s:shutdown { timeout = 5 })
    assert.is_true(gone(first.pid))
    assert.is_true(s:restart())
    -- restart() returns once what it starts has exec'd: a filtered app
    -- that came back would run now
    assert.same({}, H.running_with(state), "the filtered app came back")
    assert.equal(1, #starts(state), "the filtered app came back")
  end)

  it("reports progress rising to 100", function()
    local f = file("three")
    for _ = 1, 3 do holder("open " .. H.q(f)) end
    local s <close> = assert(rm.start())
    assert(s:register { files = { f } })
    local seen = {}
    assert.is_true(s:shutdown { timeout = 5,
      progress = function(p) seen[#seen + 1] = p end })
    assert.equal(0, seen[1])
    assert.equal(100, seen[#seen])
    for i = 2, #seen do assert.is_true(seen[i] > seen[i - 1]) end
    assert.is_true(#seen >= 4, "one report per app stopped")
  end)

  it("raises an error of the progress function after a clean stop", function()
    local f = file("errs")
    local h = holder("open " .. H.q(f))
    local s <close> = assert(rm.start())
    assert(s:register { files = { f } })
    local calls = 0
    local ok, err = pcall(s.shutdown, s, { timeout = 5, progress = function()
      calls = calls + 1
      error({ reason = "stop here" })
    end })
    assert.is_false(ok)
    assert.same({ reason = "stop here" }, err)
    assert.equal(1, calls, "the progress function ran after its error")
    -- the error came at 0%: nothing was signalled
    assert.is_true(h.alive())
    -- no stray state: the session shuts down normally afterwards
    assert.is_true(s:shutdown { timeout = 5 })
    assert.is_true(gone(h.pid))
  end)

  it("accounts for what was stopped when the progress function fails later",
    function()
      local state, data, first = app()
      local s <close> = assert(rm.start())
      assert(s:register { files = { data } })
      local ok, err = pcall(s.shutdown, s, { timeout = 5, progress = function(p)
        if p == 100 then error("at the end") end
      end })
      assert.is_false(ok)
      assert.matches("at the end", err)
      assert.is_true(gone(first.pid))
      assert.is_true(s:restart())
      assert.equal(2, #wait_starts(state, 2))
    end)

  it("returns 1223 when cancelled from the progress function", function()
    local f = file("cancelled")
    local h = holder("ignore-term open " .. H.q(f))
    local s <close> = assert(rm.start())
    assert(s:register { files = { f } })
    local t0 = os.time()
    local ok, msg, code = s:shutdown { timeout = 20, force = true,
      progress = function() assert(s:cancel()) end }
    assert.is_nil(ok)
    assert.equal(1223, code)
    assert.matches("^ERROR_CANCELLED", msg)
    assert.is_true(os.time() - t0 < 10, "the cancel did not end the wait")
    assert.is_true(h.alive(), "force went ahead after the cancel")
  end)

  it("is cancelled by key from another Lua state in another thread",
    function()
      local f = file("cancelled-from-b")
      local h = holder("ignore-term open " .. H.q(f))
      local out, rc = H.sh(H.lua_env() .. " " .. H.q(H.BUILD
        .. "/helpers/two_states") .. " " .. H.q(f) .. " 2>&1")
      assert.equal(0, rc, out)
      local code, ms = out:match("shutdown\tnil\t(%d+)\t(%d+)")
      assert.equal("1223", code, out)
      assert.is_true(tonumber(ms) < 10000, out)
      assert.matches("cancel true", out)
      assert.is_true(h.alive(), "force went ahead after the cancel")
    end)

  it("cancels by key only a primary session of this process", function()
    local ok, _, code = core.cancel(("0"):rep(32))
    assert.is_nil(ok)
    assert.equal(6, code)
    local p <close>, key = core.start_session() -- luacheck: ignore 211/p
    local s <close> = assert(core.join_session(key)) -- luacheck: ignore 211/s
    assert.is_true(core.cancel(key))
  end)

  it("never signals a registered pid whose start time differs", function()
    local h = holder("idle")
    local s <close> = assert(rm.start())
    local p = core.process(h.pid)
    assert(s:register { processes = { { pid = p.pid,
      start_time = p.start_time + 7 } } })
    assert.is_true(s:shutdown { timeout = 1, force = true })
    -- a signal leaves its trace as soon as the call that sent it returned
    assert.is_true(H.untouched(h.pid), "the holder got a signal")
  end)

  it("refuses with 350 and stops nothing when a reboot would be needed",
    function()
      local f = file("self-and-other")
      local h = holder("open " .. H.q(f))
      local fh = assert(io.open(f))
      local s <close> = assert(rm.start())
      assert(s:register { files = { f } })
      local ok, msg, code = s:shutdown { timeout = 1 }
      fh:close()
      assert.is_nil(ok)
      assert.equal(350, code)
      assert.matches("^ERROR_FAIL_NOACTION_REBOOT", msg)
      assert.is_true(h.alive())
    end)

  it("gives 776 for a restart before any shutdown", function()
    local s <close> = assert(rm.start())
    local ok, _, code = s:restart()
    assert.is_nil(ok)
    assert.equal(776, code)
  end)

  it("restarts an app of user nobody as nobody from a root session", function()
    local prefix = H.as_nobody()
    if not prefix then
      pending("needs root")
      return
    end
    local copy = H.world_readable_copy()
    H.finally(finally, function() H.sh("rm -rf " .. H.q(copy)) end)
    H.sh("cp " .. H.q(H.ROOT .. "/spec/helpers/app.lua") .. " " .. H.q(copy))
    local state, data, first = app { prefix = prefix,
      env = H.lua_env_at(copy), script = copy .. "/app.lua" }
    assert.equal("nobody", first.user)
    local s <close> = assert(rm.start())
    assert(s:register { files = { data } })
    local apps = assert(s:list())
    assert.is_true(apps[1].restartable)
    assert.is_true(s:shutdown { timeout = 5 })
    assert.is_true(gone(first.pid))
    assert.is_true(s:restart())
    local second = wait_starts(state, 2)[2]
    assert.equal("nobody", second.user)
    assert.equal(first.groups, second.groups)
    local status = H.read("/proc/" .. second.pid .. "/status")
    assert.matches("\nUid:%s+65534%s+65534%s+65534%s+65534", status)
    assert.matches("\nGid:%s+65534%s+65534%s+65534%s+65534", status)
  end)

  -- the app's store is named by its environment, read from its memory; an
  -- installer the ptrace rules keep from that (process_vm_readv denied)
  -- reads /proc/PID/environ instead, and finds the registration all the
  -- same
  for _, err in ipairs { "EPERM", "ENOSYS" } do
    it("finds an app's registration when its memory cannot be read (" .. err
      .. ")", function()
      local _, data, first = app()
      local out, rc = H.sh(H.q(H.BUILD .. "/helpers/deny")
        .. " process_vm_readv " .. err .. " env " .. H.lua_env() .. " "
        .. H.LUA .. " -e " .. H.q(([[
        local rm = require "restartmanager"
        local apps = assert(rm.who_uses({ %q }))
        for _, a in ipairs(apps) do print(a.pid, a.restartable) end
      ]]):format(data)) .. " 2>&1")
      assert.equal(0, rc, out)
      assert.equal(first.pid .. "\ttrue\n", out)
    end)
  end

  it("does not report an app registered with NO_PATCH as restartable",
    function()
      local state, data, first = app { flags = core.restart.no_patch }
      local s <close> = assert(rm.start())
      assert(s:register { files = { data } })
      local apps = assert(s:list())
      assert.is_false(apps[1].restartable)
      assert.is_true(s:shutdown { timeout = 5 })
      assert.is_true(gone(first.pid))
      assert.is_true(s:restart())
      -- restart() returns once what it starts has exec'd
      assert.same({}, H.running_with(state), "the app was restarted")
      assert.equal(1, #starts(state))
    end)

  describe("rm.update", function()
    it("restarts the apps and ends the session even when fn raises",
      function()
        local state, data, first = app()
        local ok, err = pcall(rm.update, { files = { data } }, function(apps)
          assert.equal(1, #apps)
          assert.is_true(gone(first.pid))
          error("update failed")
        end, { timeout = 5 })
        assert.is_false(ok)
        assert.matches("update failed", err)
        assert.equal(2, #wait_starts(state, 2))
        assert.same({}, H.store_keys())
      end)

    it("runs the update between shutdown and restart", function()
      local state, data = app()
      assert.is_true(rm.update({ files = { data } }, function()
        H.write(data, "updated")
      end, { timeout = 5 }))
      assert.equal("updated", wait_starts(state, 2)[2].data)
    end)

    it("refuses when a reboot would be needed, stopping nothing", function()
      local f = file("held-by-me")
      local h = holder("open " .. H.q(f))
      local fh = assert(io.open(f))
      local called = false
      local ok, msg, code = rm.update({ files = { f } }, function()
        called = true
      end)
      fh:close()
      assert.is_nil(ok)
      assert.equal(350, code)
      assert.matches("detected_self", msg)
      assert.is_false(called)
      assert.is_true(h.alive())
    end)
  end)
end)

describe("filters", function()
  local rm, core

  setup(function()
    rm = require "restartmanager"
    core = rm.core
  end)

  it("adds, replaces, lists and removes filters of every kind", function()
    local s <close> = assert(core.start_session())
    local p = { pid = 1, start_time = 5 }
    assert.is_true(s:add_filter("file", "/opt/app/bin/app", "no_restart"))
    assert.is_true(s:add_filter("process", p, "no_shutdown"))
    assert.is_true(s:add_filter("service", "cron", "no_restart"))
    -- the latest for a target replaces the earlier one
    assert.is_true(s:add_filter("file", "/opt/app/bin/app", "no_shutdown"))
    local list = assert(s:get_filter_list())
    table.sort(list, function(a, b) return a.kind < b.kind end)
    assert.same({
      { kind = "file", target = "/opt/app/bin/app", action = "no_shutdown" },
      { kind = "process", target = p, action = "no_shutdown" },
      { kind = "service", target = "cron", action = "no_restart" },
    }, list)
    assert.is_true(s:remove_filter("process", p))
    local ok, msg, code = s:remove_filter("process", p)
    assert.is_nil(ok)
    assert.equal(2, code)
    assert.matches("^ERROR_FILE_NOT_FOUND %(2%)", msg)
    assert.equal(2, #assert(s:get_filter_list()))
    -- an empty path or service name is refused, and nothing is added
    ok, msg, code = s:add_filter("file", "", "no_restart")
    assert.is_nil(ok)
    assert.equal(160, code)
    assert.matches("^ERROR_BAD_ARGUMENTS %(160%)", msg)
    assert.equal(160, select(3, s:add_filter("service", "", "no_shutdown")))
    assert.equal(2, select(3, s:remove_filter("file", "/opt/none")))
    assert.equal(2, #assert(s:get_filter_list()))
  end)

  it("has a Lua form for several targets at once", function()
    local s <close> = assert(rm.start())
    assert.is_true(s:filter { services = { "a", "b" }, action = "no_restart" })
    assert.equal(2, #assert(s:filters()))
    assert.is_true(s:filter { services = { "a" }, remove = true })
    assert.same({ { kind = "service", target = "b", action = "no_restart" } },
      assert(s:filters()))
    assert.has_error(function() s:filter { services = { "x" } } end,
      "bad field 'action' ('no_shutdown' or 'no_restart' expected)")
  end)
end)
