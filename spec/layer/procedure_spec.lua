-- The procedure's safety policies and its log, with real applications and
-- real signals: the dry-run plan, never-touch rules, the deadline, the JSON
-- log, and rm.close.
local H = require "spec.helpers"

describe("procedure", function()
  local rm, policy, json, system
  local dir

  setup(function()
    rm = require "restartmanager"
    policy = require "restartmanager.policy"
    json = require "restartmanager.json"
    system = require "system"
  end)

  local fx, file, holder
  before_each(function()
    fx = H.scratch { fifo = true }
    dir, file, holder = fx.dir, fx.file, fx.holder
  end)

  after_each(function() fx.cleanup() end)

  -- a copy of the holder program under another name and path
  local function holder_copy(path)
    H.sh("mkdir -p " .. H.q(path:match("^(.*)/")) .. " && cp "
      .. H.q(H.BUILD .. "/helpers/holder") .. " " .. H.q(path))
    return path
  end

  local gone, untouched = H.gone, H.untouched

  -- the cooperative app (H.app), registered for restart, holding data
  local function app(data)
    return fx.app { data = data }
  end

  local function by_pid(apps)
    local t = {}
    for _, a in ipairs(apps) do t[a.pid] = a end
    return t
  end

  describe("the dry run", function()
    it("stops nothing, and says what would happen to each app and why",
      function()
        local data = file("data", "old")
        local a = app(data)
        local first = a.first
        local h = holder("open " .. H.q(data))
        local plan = assert(rm.plan({ files = { data } }, { force = true }))
        assert.is_true(plan.dry_run)
        assert.is_nil(plan.refused)
        assert.equal(2, #plan.apps)
        local p = by_pid(plan.apps)
        assert.equal("stop", p[first.pid].action)
        assert.is_true(p[first.pid].restart)
        assert.is_true(p[first.pid].force)
        assert.equal("registered for restart", p[first.pid].restart_why)
        assert.equal("stop", p[h.pid].action)
        assert.is_false(p[h.pid].restart)
        assert.matches("not registered for restart", p[h.pid].restart_why)
        assert.equal(H.BUILD .. "/helpers/holder", p[h.pid].executable)
        assert.same({ 2, 0, 1 }, { plan.stop, plan.spare, plan.restart })
        local text = tostring(plan)
        assert.matches("^plan %(dry run%): 2 applications use the resources",
          text)
        assert.matches("\n  " .. first.pid .. " .- stop .- yes ", text)
        assert.matches("\n  " .. h.pid .. " .- stop .- no ", text)
        assert.matches("would stop 2, spare 0, restart 1; kill what has not "
          .. "stopped after 30 s", text, 1, true)
        -- nothing happened: no signal reached them, nothing was started
        assert.is_true(untouched(first.pid))
        assert.is_true(untouched(h.pid))
        assert.same({ first.pid }, a.instances())
      end)

    it("is what rm.update does with dry_run: fn is not called", function()
      local data = file("data")
      local h = holder("open " .. H.q(data))
      local called = false
      local ok, plan = rm.update({ files = { data } }, function()
        called = true
      end, { dry_run = true })
      assert.is_true(ok)
      assert.is_true(plan.dry_run)
      assert.equal(h.pid, plan.apps[1].pid)
      assert.is_false(called)
      assert.is_true(untouched(h.pid))
    end)

    it("says when the update would be refused, and why", function()
      local data = file("data")
      local h = holder("open " .. H.q(data))
      -- this process holds the file too: a reboot would be needed
      local fh = assert(io.open(data))
      local plan = assert(rm.plan { files = { data } })
      local allowed = assert(rm.plan({ files = { data } },
        { allow_reboot_reasons = true }))
      fh:close()
      assert.equal(350, plan.refused_code)
      assert.equal("ERROR_FAIL_NOACTION_REBOOT (350): restartmanager itself "
        .. "uses the resources (detected_self): it cannot stop the process it "
        .. "runs in", plan.refused)
      assert.same({ detected_self = true }, plan.reboot_reasons)
      local p = by_pid(plan.apps)
      local me = tonumber(H.read("/proc/self/stat"):match("^%d+"))
      assert.equal("critical", p[me].type)
      assert.equal("none", p[me].action)
      assert.matches("^critical: cannot be stopped", p[me].why)
      assert.equal("stop", p[h.pid].action)
      assert.matches("\nrefused: ERROR_FAIL_NOACTION_REBOOT", tostring(plan))
      assert.is_nil(allowed.refused)
      -- only_registered: the holder cannot be restarted
      plan = assert(rm.plan({ files = { data } }, { only_registered = true }))
      assert.equal(351, plan.refused_code)
      assert.matches("only_registered: holder %(pid " .. h.pid .. "%) cannot "
        .. "be restarted", plan.refused)
      assert.is_true(untouched(h.pid))
    end)
  end)

  describe("never-touch rules", function()
    it("spare an app by name: it keeps running, the others stop", function()
      local data = file("data")
      local keeper = holder("open " .. H.q(data),
        { exe = holder_copy(dir .. "/bin/keeper") })
      local other = holder("open " .. H.q(data))
      local ok, report = rm.update({ files = { data } }, function() end,
        { never = { names = { "keeper" } }, timeout = 5 })
      assert.is_true(ok)
      assert.is_true(gone(other.pid))
      assert.is_true(untouched(keeper.pid), "the spared app was signalled")
      local r = by_pid(report.apps)
      assert.equal("spare", r[keeper.pid].action)
      assert.equal('never-touch rule: name "keeper"', r[keeper.pid].why)
      assert.equal("spared", r[keeper.pid].outcome)
      assert.equal("stopped", r[other.pid].outcome)
      assert.same({ 1, 1 }, { report.stop, report.spare })
    end)

    it("spare an app by the directory of its executable, on a path boundary",
      function()
        local data = file("data")
        local inside = holder("open " .. H.q(data),
          { exe = holder_copy(dir .. "/protected/app") })
        local beside = holder("open " .. H.q(data),
          { exe = holder_copy(dir .. "/protectedness/app") })
        local ok, report = rm.close({ files = { data } },
          { never = { paths = { dir .. "/protected" } }, timeout = 5 })
        assert.is_true(ok)
        assert.is_true(gone(beside.pid), "a prefix is a directory, not a string")
        assert.is_true(untouched(inside.pid))
        assert.matches('executable under "' .. dir .. '/protected"',
          by_pid(report.apps)[inside.pid].why, 1, true)
        -- a trailing separator and the file itself work as well
        local pol = policy.new { never = { paths = { dir .. "/protected/" } } }
        assert.truthy(policy.spared(pol, { executable = dir .. "/protected/app" }))
        pol = policy.new { never = { paths = { dir .. "/protected/app" } } }
        assert.truthy(policy.spared(pol, { executable = dir .. "/protected/app" }))
        assert.is_nil(policy.spared(pol, { executable = dir .. "/protected/app2" }))
      end)

    it("spare apps by type", function()
      local data = file("data")
      local h = holder("open " .. H.q(data))
      -- the type the backend gives the holder here (console under a
      -- terminal, unknown otherwise)
      local t = assert(rm.plan { files = { data } }).apps[1].type
      local ok, report = rm.close({ files = { data } },
        { never = { types = { t } }, timeout = 5 })
      assert.is_true(ok)
      assert.is_true(untouched(h.pid))
      assert.equal('never-touch rule: type "' .. t .. '"', report.apps[1].why)
      -- and the same run without the rule stops it
      assert.is_true(rm.close({ files = { data } }, { timeout = 5 }))
      assert.is_true(gone(h.pid))
    end)

    it("spare an app whose executable cannot be read when a path rule is set",
      function()
        local pol = policy.new { never = { paths = { "/opt" } } }
        local why = policy.spared(pol, { pid = 999999999, name = "x" })
        assert.matches("could not be checked", why)
      end)
  end)

  describe("the deadline", function()
    it("cancels a shutdown that outlasts it, and nothing is killed after it",
      function()
        local f = file("stubborn")
        local h = holder("ignore-term open " .. H.q(f))
        local lines, called = {}, false
        local t0 = os.time()
        local ok, msg, code, report = rm.update({ files = { f } }, function()
          called = true
        end, { deadline = 1, timeout = 20, force = true,
          log = function(l) lines[#lines + 1] = assert(json.decode(l)) end })
        assert.is_nil(ok)
        assert.equal(1223, code)
        assert.equal("ERROR_CANCELLED (1223): the deadline of 1 s passed "
          .. "before every application stopped", msg)
        -- bounded by the deadline (1 s), not by the timeout (20 s): a
        -- loaded machine may add a few seconds of listing and scanning
        assert.is_true(os.time() - t0 <= 10, "the deadline did not bound the wait")
        assert.is_false(called)
        assert.is_true(untouched(h.pid), "killed after the deadline")
        assert.equal("not_stopped", report.apps[1].outcome)
        local steps = {}
        for _, l in ipairs(lines) do steps[l.step] = l end
        assert.equal("deadline", steps.cancelled.reason)
        assert.is_nil(steps.force_requested)
        assert.is_nil(steps.updated)
      end)

    it("cancels the running shutdown from the progress function", function()
      local f = file("slow-report")
      local h = holder("open " .. H.q(f))
      local seen = {}
      -- long enough for the list, however busy the machine: a few times
      -- what one takes now, in whole seconds
      local t = system.monotime()
      assert(rm.plan { files = { f } })
      local deadline = math.ceil(3 * (system.monotime() - t)) + 1
      local t0 = system.monotime()
      local ok, msg, code = rm.update({ files = { f } }, function() end, {
        deadline = deadline, timeout = 20,
        progress = function(p, phase)
          seen[#seen + 1] = phase .. " " .. p
          -- the caller is slow: the deadline passes at the 0% report,
          -- before any signal is sent
          if phase == "shutdown" and p == 0 then
            H.sh(("sleep %.2f"):format(math.max(0,
              t0 + deadline + 0.2 - system.monotime())))
          end
        end })
      assert.is_nil(ok)
      assert.equal(1223, code)
      assert.matches("deadline of " .. deadline .. " s", msg)
      assert.is_true(untouched(h.pid), "signalled after the cancel")
      assert.equal("shutdown 0", seen[1])
      -- what stopped (nothing) is restarted; the restart is not bounded
      assert.equal("restart 0", seen[2])
    end)

    it("leaves a shutdown that ends in time alone", function()
      local f = file("quick")
      local h = holder("open " .. H.q(f))
      assert.is_true(rm.close({ files = { f } }, { deadline = 10 }))
      assert.is_true(gone(h.pid))
    end)
  end)

  describe("the JSON log", function()
    it("has one line per step, each a JSON object", function()
      local data = file("data", "old")
      local a = app(data)
      local first = a.first
      local stubborn = holder("ignore-term open " .. H.q(data))
      local lines = {}
      local ok, report = rm.update({ files = { data } }, function()
        H.write(data, "new")
      end, { force = true, timeout = 0.5,
        log = function(line) lines[#lines + 1] = line end })
      assert.is_true(ok)
      local second = a.wait_starts(2)[2]
      assert.equal("new", second.data)
      assert.is_true(gone(stubborn.pid))

      local records, per_pid, order = {}, {}, {}
      for i, line in ipairs(lines) do
        assert.is_nil(line:find("\n"), "a line break inside a log line")
        local rec = assert(json.decode(line))
        assert.equal("table", type(rec))
        assert.equal("number", type(rec.time))
        records[i] = rec
        if rec.pid then
          per_pid[rec.pid] = per_pid[rec.pid] or {}
          table.insert(per_pid[rec.pid], rec.step)
        elseif rec.step ~= "warning" then
          -- (a warning: processes hidden even from root, as a container's
          -- init; see the uninspected specs)
          order[#order + 1] = rec.step
        end
      end
      -- "down": what was stopped and did not come back (the stubborn one)
      assert.same({ "started", "planned", "updated", "down", "ended" }, order)
      assert.same({ "listed", "stop_requested", "stopped", "restarted" },
        per_pid[first.pid])
      assert.same({ "listed", "stop_requested", "force_requested", "forced",
        "not_restarted" }, per_pid[stubborn.pid])
      assert.equal(2, #report.apps)
      local last = records[#records]
      assert.is_true(last.ok)
      local listed = records[2]
      assert.equal("listed", listed.step)
      assert.equal("stop", listed.action)
      assert.equal("uses the registered resources", listed.why)
      assert.is_true(listed.start_time > 0)
      -- the same in a file, through a file handle
      local path = dir .. "/log.jsonl"
      local fh = assert(io.open(path, "w"))
      assert.is_true(rm.close({ files = { data } }, { log = fh }))
      fh:close()
      local steps = {}
      for line in H.read(path):gmatch("([^\n]*)\n") do
        local step = assert(json.decode(line)).step
        if step ~= "warning" then steps[#steps + 1] = step end
      end
      assert.same({ "started", "listed", "planned", "stop_requested",
        "stopped", "down", "ended" }, steps)
    end)

    it("raises the sink's error only after the apps were restarted",
      function()
        local data = file("data", "old")
        local a = app(data)
        assert.has_error(function()
          rm.update({ files = { data } }, function() end, { timeout = 5,
            log = function(line)
              if line:find('"step":"stopped"', 1, true) then
                error("the disk is full", 0)
              end
            end })
        end, "the disk is full")
        assert.equal(2, #a.wait_starts(2))
        assert.same({}, H.store_keys())
      end)
  end)

  it("rm.close stops the apps and does not restart them", function()
    local data = file("data")
    local a = app(data)
    local first = a.first
    local ok, report = rm.close({ files = { data } }, { timeout = 5 })
    assert.is_true(ok)
    assert.is_true(gone(first.pid))
    assert.equal("stopped", report.apps[1].outcome)
    assert.is_false(report.apps[1].restart)
    -- a restart would have started it before rm.close returned
    assert.same({}, a.instances())
    assert.equal(1, #a.starts())
    assert.matches("^report: 1 application uses the resources", tostring(report))
  end)

  it("returns a report with each app's outcome", function()
    local data = file("data")
    local a = app(data)
    local first = a.first
    local ok, report = rm.update({ files = { data } }, function(apps, plan)
      assert.equal(first.pid, apps[1].pid)
      assert.equal("stop", plan.apps[1].action)
    end, { timeout = 5 })
    assert.is_true(ok)
    assert.equal("stopped", report.apps[1].outcome)
    assert.equal("restarted", report.apps[1].restart_outcome)
    assert.matches("\n  " .. first.pid .. " .- stopped  restarted", tostring(report))
    a.wait_starts(2)
  end)

  it("raises on misuse of the policy and the options", function()
    local r = { files = { "/nonexistent" } }
    assert.has_error(function() rm.update(r, function() end, { forse = true }) end,
      "unknown option 'forse'")
    assert.has_error(function() rm.plan(r, { timeout = "5" }) end,
      "bad option 'timeout' (number expected, got string)")
    assert.has_error(function() rm.plan(r, { timeout = -1 }) end,
      "bad option 'timeout' (non-negative number of seconds expected)")
    assert.has_error(function() rm.close(r, { deadline = -1 }) end,
      "bad option 'deadline' (non-negative number of seconds expected)")
    assert.has_error(function() rm.plan(r, { never = { name = { "x" } } }) end,
      "unknown field 'never.name' (names, paths or types expected)")
    assert.has_error(function() rm.plan(r, { never = { names = { 5 } } }) end,
      "bad field 'never.names' (non-empty string expected at index 1, got number)")
    assert.has_error(function() rm.plan(r, { never = { types = { "gui" } } }) end,
      "bad field 'never.types' (unknown app type 'gui')")
    assert.has_error(function() rm.plan(r, { never = { paths = { "opt" } } }) end,
      "bad field 'never.paths' (absolute path expected, got 'opt')")
    assert.has_error(function() rm.close(r, { log = 5 }) end,
      "bad option 'log' (function or file handle expected, got number)")
    assert.has_error(function() rm.close(r, { progress = 5 }) end,
      "bad option 'progress' (function expected, got number)")
    assert.has_error(function() rm.close(r, { on_step = "x" }) end,
      "bad option 'on_step' (function expected, got string)")
    assert.has_error(function() rm.update(r, nil) end,
      "bad argument #2 to 'update' (function expected, got nil)")
    assert.has_error(function() rm.close("x") end,
      "bad argument #1 to 'close' (table expected, got string)")
  end)
end)
