-- Bringing back Windows programs that never registered for restart
-- (`restart_unregistered`), under Wine with the win32 engine: what
-- core.capture reads from a live process (command line, current
-- directory, environment), and rm.update stopping such a program, replacing
-- its file and starting it again from that capture. The programs:
-- winholder.exe (spec/helpers/winholder.c, a console program that never
-- registers and reports what it runs with) and Wine's own notepad.exe (a
-- window program the project did not write), each started from Linux with
-- a working directory, arguments and an environment variable of its own.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local function win(path) return W.winpath(path) end
local function lit(s) return ("%q"):format(s) end

local function unhex(h)
  if h == "-" then return "" end
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

-- What winholder report wrote to its ready file: pid, line, cwd, mark (nil
-- when unset).
local function report(path)
  local text = H.read(path)
  if not text or not text:match("\nmark %S+\n") then return nil end
  local r = { pid = tonumber(text:match("^pid (%d+)")) }
  for key, value in text:gmatch("\n(%a+) (%S+)") do
    if value ~= "none" then r[key] = unhex(value) end
  end
  return r
end

describe("restart_unregistered under wine #wine", function()
  local fx

  before_each(function()
    fx = W.scratch()
  end)

  after_each(function()
    fx.cleanup()
  end)

  local function run(code, opts) return fx.run(code, opts) end

  -- The arguments winholder gets after its mode, file and ready file: a
  -- space, quotes, a trailing backslash, a character outside ASCII.
  local ARGS = { "two words", 'say "hi"', [[C:\Program Files\]], "è" }
  local MARK = 'the "mark" è'

  -- Starts winholder report over file, in directory cwd, with
  -- WINHOLDER_MARK set; waits for its report. Whatever instance still
  -- holds the file at the end is ended by force (the restarted one is not
  -- the spec's child).
  local function start_holder(file, cwd)
    local ready = fx.dir .. "/ready"
    local words = { "report", win(file), win(ready) }
    for _, a in ipairs(ARGS) do words[#words + 1] = a end
    for i, w in ipairs(words) do words[i] = H.q(w) end
    H.finally(finally, function()
      run([[
        assert(rm.close({ files = { ]] .. lit(win(file)) .. [[ } },
          { force = true, timeout = 0 }))
        assert(#assert(rm.who_uses({ ]] .. lit(win(file)) .. [[ })) == 0)
      ]])
    end)
    local child = fx.track(H.start("env -C " .. H.q(cwd) .. " "
      .. W.words { env = { "WINHOLDER_MARK=" .. H.q(MARK) } } .. " wine "
      .. H.q(W.WINHOLDER) .. " " .. table.concat(words, " ")))
    local r = H.wait_for(function()
      return report(ready) or (not child.alive() and "gone")
    end, function() return "winholder report: " .. child.output() end)
    assert.is_table(r, child.output())
    child.ready = ready
    child.winpid = r.pid
    return child, r
  end

  it("captures a live program's executable, command line, directory and "
    .. "environment", function()
      local held = fx.file("held.bin", "old")
      local cwd = fx.dir .. "/work dir"
      H.sh("mkdir -p " .. H.q(cwd))
      local h, r = start_holder(held, cwd)
      local res = run([[
        local pid = ]] .. r.pid .. [[
        local p = assert(core.process(pid))
        R.process = p
        R.c = assert(core.capture(p))
        R.by_pid = assert(core.capture(pid)).command_line
        R.other = { core.capture({ pid = pid, start_time = p.start_time + 1 }) }
        R.none = { core.capture(4294967294) }
        R.bad = { pcall(core.capture, "x") }
        local apps = assert(rm.who_uses({ ]] .. lit(win(held)) .. [[ }))
        R.listed = apps[1] and apps[1].restartable
        local function with(t, changes)
          local copy = {}
          for k, v in pairs(t) do copy[k] = v end
          for k, v in pairs(changes) do copy[k] = v end
          return copy
        end
        -- what the plan makes of the capture, and of captures it refuses
        local policy = require "restartmanager.policy"
        local pol = policy.new { restart_unregistered = true }
        local function plan(changes, app_changes)
          local app = with(apps[1], app_changes or {})
          local p = policy.plan(pol, { app }, {}, 0,
            { captures = { [app.pid] = with(R.c, changes) } })
          local e = p.apps[1]
          return { restart = e.restart, via = e.restart_via,
            why = e.restart_why }
        end
        R.plans = {
          plain = plan({}),
          other_user = plan({ other_user = true }),
          would_elevate = plan({ would_elevate = true }),
          service = plan({}, { type = "service" }),
        }
        -- the restart's own refusals, before anything is started
        R.refused = {
          user = { core.restart_captured(with(R.c, { user = "S-1-5-18" })) },
          -- (asked only of an elevated caller's capture: else it would start)
          elevation = R.c.elevated
            and { core.restart_captured(with(R.c, { elevated = false })) },
          gone = { core.restart_captured(with(R.c,
            { executable = "C:\\no such dir\\none.exe" })) },
          env = { pcall(core.restart_captured, with(R.c, { env = { "NOEQUALS" } })) },
          via = { pcall(core.restart_captured, R.c, { via = "unit" }) },
          line = { pcall(core.restart_captured, with(R.c, { command_line = 1 })) },
        }
        -- it runs: not started a second time
        R.again = { core.restart_captured(R.c) }
        R.running = core.running_again(R.c)
        R.other_line = core.running_again(with(R.c,
          { command_line = R.c.command_line .. " more" }))
        R.still = #assert(rm.who_uses({ ]] .. lit(win(held)) .. [[ }))
      ]])
      local c = res.R.c
      assert.equal(r.pid, c.pid)
      assert.equal(res.R.process.start_time, c.start_time)
      assert.equal("integer", math.type(c.ppid))
      assert.equal(win(W.WINHOLDER):gsub("/", "\\"):lower(),
        c.executable:lower())
      -- the line exactly as the process sees it (GetCommandLineW)
      assert.equal(r.line, c.command_line)
      assert.equal(r.line, res.R.by_pid)
      local argv = { "report", win(held), win(h.ready) }
      for _, a in ipairs(ARGS) do argv[#argv + 1] = a end
      assert.same(argv, { table.unpack(c.argv, 2) })
      assert.equal(r.cwd, c.cwd)
      assert.equal(win(cwd):gsub("/", "\\"):lower(), c.cwd:lower())
      local marks = {}
      for _, e in ipairs(c.env) do
        if e:match("^WINHOLDER_MARK=") then marks[#marks + 1] = e end
      end
      assert.same({ "WINHOLDER_MARK=" .. MARK }, marks)
      assert.is_true(c.console)
      assert.matches("^S%-1%-", c.user)
      assert.is_boolean(c.elevated)
      -- another process under that pid, or none: refused, not guessed
      assert.is_nil(res.R.other[1])
      assert.equal(2, res.R.other[3], res.R.other[2])
      assert.is_nil(res.R.none[1])
      assert.equal(2, res.R.none[3], res.R.none[2])
      assert.is_false(res.R.bad[1])
      assert.is_false(res.R.listed)
      local plans = res.R.plans
      assert.same({ restart = true, via = "command",
        why = "not registered; restarted from its captured command line" },
        plans.plain)
      assert.same({ restart = false, why = "runs as another user: restarted "
        .. "from a capture it would run as this one; stays down" },
        plans.other_user)
      assert.same({ restart = false, why = "was not elevated: restarted from "
        .. "this elevated process it would be; stays down" },
        plans.would_elevate)
      assert.same({ restart = false, why = "a service: only the Service "
        .. "Control Manager starts it, never a capture; stays down" },
        plans.service)
      local refused = res.R.refused
      assert.is_nil(refused.user[1])
      assert.equal(5, refused.user[3])
      assert.matches("another user", refused.user[2])
      -- Wine 8 gives its processes an elevated token: the caller's too
      assert.is_true(c.elevated)
      assert.is_nil(refused.elevation[1])
      assert.equal(5, refused.elevation[3])
      assert.matches("not elevated", refused.elevation[2])
      assert.is_nil(refused.gone[1])
      assert.equal(2, refused.gone[3])
      assert.matches("is gone", refused.gone[2])
      assert.is_false(refused.env[1])
      assert.matches("NAME=value", refused.env[2])
      assert.is_false(refused.via[1])
      assert.matches("invalid option 'unit'", refused.via[2])
      assert.is_false(refused.line[1])
      assert.matches("command_line", refused.line[2])
      assert.same({ r.pid, "running" }, res.R.again)
      assert.equal(r.pid, res.R.running)
      assert.is_nil(res.R.other_line)
      -- nothing was started: one process holds the file, the first
      assert.equal(1, res.R.still)
      assert.equal(r.pid, report(h.ready).pid)
    end)

  it("stops a program that never registered, replaces its file and brings "
    .. "it back with its command line, directory and environment", function()
      local held = fx.file("held.bin", "old")
      local cwd = fx.dir .. "/work dir"
      H.sh("mkdir -p " .. H.q(cwd))
      local h, first = start_holder(held, cwd)
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        local events = {}
        R.ok = { rm.update({ files = { path } }, function()
          local f = assert(io.open(path, "wb"))
          f:write("new")
          f:close()
        end, { force = true, timeout = 1, restart_unregistered = true,
          on_step = function(e) events[#events + 1] = e end }) }
        local plan = R.ok[2]
        R.ok[2] = nil
        local a = plan and plan.apps[1] or {}
        R.app = { restart = a.restart, restart_via = a.restart_via,
          restart_why = a.restart_why, outcome = a.outcome,
          restart_outcome = a.restart_outcome, new_pid = a.restarted_pid,
          how = a.restarted_how, down = plan and #plan.down }
        R.steps = {}
        for _, e in ipairs(events) do
          if e.step == "captured" or e.step == "restarted" then
            R.steps[#R.steps + 1] = { step = e.step, via = e.via,
              new_pid = e.new_pid,
              captured = e.captured and e.captured.command_line,
              env_names = e.captured and e.captured.env_names }
          end
        end
      ]])
      assert.is_true(res.R.ok[1], res.out)
      assert.equal("new", H.read(held))
      assert.is_true(H.gone(h.pid))
      local a = res.R.app
      assert.is_true(a.restart)
      assert.equal("command", a.restart_via)
      assert.equal("not registered; restarted from its captured command line",
        a.restart_why)
      assert.equal("forced", a.outcome)
      assert.equal("restarted", a.restart_outcome)
      assert.equal("detached", a.how)
      assert.equal(0, a.down)
      -- the new instance reports what it runs with
      local again = H.wait_for(function()
        local r = report(h.ready)
        return r and r.pid ~= first.pid and r
      end, "the restarted winholder's report")
      assert.equal(a.new_pid, again.pid)
      assert.equal(first.line, again.line)
      assert.equal(first.cwd, again.cwd)
      assert.equal(MARK, again.mark)
      -- the log says what was captured (the environment's names only) and
      -- how it came back
      assert.equal("captured", res.R.steps[1].step)
      assert.equal(first.line, res.R.steps[1].captured)
      local names = table.concat(res.R.steps[1].env_names, " ")
      assert.matches("WINHOLDER_MARK", names)
      assert.not_matches(MARK, names, 1, true)
      assert.same({ step = "restarted", via = "command", new_pid = again.pid },
        res.R.steps[2])
    end)

  it("leaves a program that never registered down without "
    .. "restart_unregistered", function()
      local held = fx.file("held.bin", "old")
      local h, first = start_holder(held, fx.dir)
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        R.ok = { rm.update({ files = { path } }, function()
          local f = assert(io.open(path, "wb"))
          f:write("new")
          f:close()
        end, { force = true, timeout = 1 }) }
        local plan = R.ok[2]
        R.ok[2] = nil
        local a = plan and plan.apps[1] or {}
        R.app = { restart = a.restart, restart_why = a.restart_why,
          outcome = a.outcome, restart_outcome = a.restart_outcome,
          down = plan and #plan.down }
        -- the update has returned: whatever it restarts runs by now
        R.after = #assert(rm.who_uses({ path }))
      ]])
      assert.is_true(res.R.ok[1], res.out)
      assert.equal("new", H.read(held))
      assert.is_true(H.gone(h.pid))
      assert.same({ restart = false, outcome = "forced", down = 1,
        restart_outcome = "not_restarted", restart_why = "not registered for restart: stays down" }, res.R.app)
      assert.equal(0, res.R.after)
      assert.equal(first.pid, report(h.ready).pid)
    end)

  it("brings it back through the command-line tool's run "
    .. "--restart-unregistered", function()
      local held = fx.file("held.bin", "old")
      local h, first = start_holder(held, fx.dir)
      local tool = win(H.ROOT .. "/bin/restartmanager")
      local res = run([[
        arg = { [0] = ]] .. lit(tool) .. [[, "run", "--file",
          ]] .. lit(win(held)) .. [[, "--force", "--timeout", "1",
          "--restart-unregistered", "--", "cmd.exe", "/c", "exit 0" }
        local cli = require "restartmanager.cli"
        local out, err = {}, {}
        local sink = function(t) return { write = function(_, ...)
          for _, s in ipairs { ... } do t[#t + 1] = s end end,
          flush = function() end } end
        R.rc = cli.main(arg, sink(out), sink(err))
        R.out, R.err = table.concat(out), table.concat(err)
      ]])
      assert.equal(0, res.R.rc, res.R.err .. res.R.out)
      assert.is_true(H.gone(h.pid))
      local again = H.wait_for(function()
        local r = report(h.ready)
        return r and r.pid ~= first.pid and r
      end, "the restarted winholder's report")
      assert.matches("restarted pid " .. first.pid .. " %(winholder%.exe%) "
        .. "from its capture %(its command line%): pid " .. again.pid .. "\n",
        res.R.err .. res.R.out)
      assert.equal(first.line, again.line)
      assert.equal(first.cwd, again.cwd)
      assert.equal(MARK, again.mark)
    end)

  it("brings back Wine's notepad, with its document, directory and "
    .. "environment, after its program file was replaced", function()
      W.quiet()
      local x = W.xvfb()
      H.finally(finally, W.quiet)
      H.finally(finally, x.stop)
      H.finally(finally, function() fx.cleanup() end)
      local bin = fx.dir .. "/editor bin"
      local cwd = fx.dir .. "/work dir"
      H.sh("mkdir -p " .. H.q(bin) .. " " .. H.q(cwd))
      local doc = fx.file("my doc.txt", "some text\n")
      local exe = bin .. "/notepad.exe"
      -- a copy of Wine's notepad.exe: the file the update replaces
      run([[
        local src = os.getenv("SystemRoot") .. "\\system32\\notepad.exe"
        local f = assert(io.open(src, "rb"))
        local bytes = f:read("a")
        f:close()
        f = assert(io.open(]] .. lit(win(exe)) .. [[, "wb"))
        f:write(bytes)
        f:close()
      ]], { display = x.display })
      H.finally(finally, function()
        run([[
          assert(rm.close({ files = { ]] .. lit(win(exe)) .. [[ } },
            { force = true, timeout = 0 }))
        ]], { display = x.display })
      end)
      local child = fx.track(H.start("env -C " .. H.q(cwd) .. " "
        .. W.words { display = x.display,
          env = { "WINHOLDER_MARK=" .. H.q(MARK) } } .. " wine " .. H.q(exe) .. " "
        .. H.q(win(doc))))
      local res = run([[
        local path = ]] .. lit(win(exe)) .. [[
        -- notepad runs once it uses its program file
        local apps
        local deadline = os.time() + 60
        repeat
          apps = assert(rm.who_uses({ path }))
          assert(os.time() < deadline, "notepad did not start")
        until #apps > 0
        R.before = assert(core.capture(apps[1]))
        R.ok = { rm.update({ files = { path } }, function()
          local f = assert(io.open(path, "rb"))
          local bytes = f:read("a")
          f:close()
          f = assert(io.open(path, "wb"))
          f:write(bytes)
          f:close()
          R.replaced = true
        end, { force = true, timeout = 10, restart_unregistered = true }) }
        local plan = R.ok[2]
        R.ok[2] = nil
        local a = plan and plan.apps[1] or {}
        R.app = { restart_via = a.restart_via, outcome = a.outcome,
          restart_outcome = a.restart_outcome, new_pid = a.restarted_pid }
        -- the new process, read as any other
        local new = a.restarted_pid and core.process(a.restarted_pid)
        R.after = new and { core.capture(new) }
      ]], { display = x.display })
      assert.is_true(res.R.ok[1], res.out)
      assert.is_true(res.R.replaced)
      assert.is_true(H.gone(child.pid))
      assert.equal("command", res.R.app.restart_via)
      assert.equal("restarted", res.R.app.restart_outcome)
      local before, after = res.R.before, res.R.after and res.R.after[1]
      assert.is_table(after, res.R.after and res.R.after[2])
      assert.matches("my doc.txt", before.command_line, 1, true)
      assert.equal(res.R.app.new_pid, after.pid)
      -- notepad cuts the closing quote of its document off its own command
      -- line as it parses it (the capture reads the line as it is in the
      -- process: up to that cut once it is made)
      assert.equal((before.command_line:gsub('"$', "")),
        (after.command_line:gsub('"$', "")))
      assert.equal(before.executable, after.executable)
      assert.equal(before.cwd, after.cwd)
      assert.equal(win(cwd):gsub("/", "\\"):lower(), after.cwd:lower())
      assert.is_false(after.console)
      local marks = {}
      for _, e in ipairs(after.env) do
        if e:match("^WINHOLDER_MARK=") then marks[#marks + 1] = e end
      end
      assert.same({ "WINHOLDER_MARK=" .. MARK }, marks)
    end)
end)
