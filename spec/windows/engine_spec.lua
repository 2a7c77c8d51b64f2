-- The Windows build's win32 engine under Wine, against real Windows
-- programs: winholder.exe (spec/helpers/winholder.c) holding a file
-- exclusively, mapping it or showing a window over it, and a Windows Lua
-- application that registers for restart. The Lua layer runs end to end in
-- the Windows Lua (lua.exe): who_uses, update, close, plan, join from a
-- second process, spawn_secondary, the command-line tool. Windows get an X
-- server of their own (Xvfb), started here and stopped by its pid.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local function win(path) return W.winpath(path) end

-- Lua source for a string literal
local function lit(s) return ("%q"):format(s) end

describe("win32 engine under wine #wine", function()
  local fx

  before_each(function()
    fx = W.scratch()
  end)

  after_each(function()
    fx.cleanup()
  end)

  local function run(code, opts) return fx.run(code, opts) end

  local function holder(mode, file, opts)
    return fx.track(W.holder(mode, file, opts))
  end

  it("is the engine Wine gets when none is asked for", function()
    local res = run([[
      R.info = core.backend_info()
      local s, key = assert(core.start_session())
      R.key = key
      R.primary = s:is_primary()
      s:end_session()
    ]], { engine = "auto", debug = "-all,fixme+rstrtmgr" })
    assert.equal("win32", res.R.info.engine)
    assert.matches("^%x+$", res.R.key)
    assert.equal(32, #res.R.key)
    assert.is_true(res.R.primary)
    -- none of Wine's stubs was called
    assert.not_matches("rstrtmgr", res.out)
  end)

  it("finds a program holding a file exclusively, and one mapping it",
    function()
      local held = fx.file("held.bin", "old")
      local mapped = fx.file("mapped.bin", "mapped content")
      fx.file("other.bin", "nobody's")
      local h = holder("exclusive", held)
      local m = holder("map", mapped)
      local res = run([[
        for _, name in ipairs { "held", "mapped", "other" } do
          local apps = assert(rm.who_uses({ ]] .. lit(win(fx.dir)) ..
          [[ .. "\\" .. name .. ".bin" }))
          R[name] = {}
          for _, a in ipairs(apps) do
            R[name][#R[name] + 1] = { pid = a.pid, name = a.name,
              type = a.type, start_time = a.start_time }
          end
        end
        -- the file is held: Windows refuses to open it
        R.open = io.open(]] .. lit(win(held)) .. [[, "rb") ~= nil
      ]])
      assert.equal(1, #res.R.held, res.out)
      assert.equal(h.winpid, res.R.held[1].pid)
      assert.equal("winholder.exe", res.R.held[1].name)
      assert.equal("console", res.R.held[1].type)
      assert.is_true(res.R.held[1].start_time > 0)
      assert.equal(1, #res.R.mapped)
      assert.equal(m.winpid, res.R.mapped[1].pid)
      assert.same({}, res.R.other)
      assert.is_false(res.R.open)
    end)

  it("updates a file a console program holds: refused without force, "
    .. "stopped with force", function()
      local held = fx.file("held.bin", "old")
      local h = holder("exclusive", held)
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        local function replace()
          local f = assert(io.open(path, "wb"))
          f:write("new")
          f:close()
          R.replaced = (R.replaced or 0) + 1
        end
        R.polite = { rm.update({ files = { path } }, replace, { timeout = 1 }) }
        R.polite[4] = nil
        R.forced = { rm.update({ files = { path } }, replace,
          { force = true, timeout = 1 }) }
        local plan = R.forced[2]
        R.outcomes = {}
        for _, a in ipairs(plan.apps) do
          R.outcomes[#R.outcomes + 1] = { pid = a.pid, outcome = a.outcome }
        end
        R.forced[2] = nil
      ]])
      -- console programs have no polite way to be asked: only force
      assert.is_nil(res.R.polite[1])
      assert.equal(351, res.R.polite[3], res.R.polite[2])
      assert.is_true(res.R.forced[1], res.out)
      assert.equal(1, res.R.replaced)
      assert.same({ { pid = h.winpid, outcome = "forced" } }, res.R.outcomes)
      assert.equal("new", H.read(held))
      assert.is_true(H.gone(h.pid))
    end)

  it("closes a window application politely, without force", function()
    W.quiet()
    local x = W.xvfb()
    H.finally(finally, W.quiet)
    H.finally(finally, x.stop)
    H.finally(finally, function() fx.cleanup() end)
    local held = fx.file("shown.txt", "old")
    local h = holder("window", held, { display = x.display })
    local res = run([[
      local path = ]] .. lit(win(held)) .. [[
      local apps = assert(rm.who_uses({ path }))
      R.type = apps[1] and apps[1].type
      R.ok = { rm.update({ files = { path } }, function()
        local f = assert(io.open(path, "wb"))
        f:write("new")
        f:close()
      end, { timeout = 10 }) }
      R.outcome = R.ok[2] and R.ok[2].apps[1].outcome
      R.ok[2] = nil
    ]], { display = x.display })
    assert.equal("main_window", res.R.type, res.out)
    assert.is_true(res.R.ok[1], res.out)
    assert.equal("stopped", res.R.outcome)
    assert.equal("new", H.read(held))
    assert.is_true(H.gone(h.pid))
    -- what the window saw: the log-off sequence, then it closed itself
    assert.equal("queryendsession 1\nendsession 1\nclose\nexit\n", h.log())
  end)

  it("leaves a window that refuses to end its session running, and says so",
    function()
      W.quiet()
      local x = W.xvfb()
      H.finally(finally, W.quiet)
      H.finally(finally, x.stop)
      H.finally(finally, function() fx.cleanup() end)
      local held = fx.file("stubborn.txt", "old")
      local h = holder("refuse", held, { display = x.display })
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        R.res = { rm.close({ files = { path } }, { timeout = 2 }) }
        R.outcome = R.res[4] and R.res[4].apps[1].outcome
        R.res[4] = nil
      ]], { display = x.display })
      assert.is_nil(res.R.res[1])
      assert.equal(351, res.R.res[3])
      assert.equal("not_stopped", res.R.outcome)
      assert.is_true(h.alive())
      assert.equal("queryendsession 1\nendsession 0\n", h.log())
    end)

  it("restarts a registered Windows Lua application with its arguments",
    function()
      local held = fx.file("data.bin", "v1")
      local state = fx.dir .. "/state"
      local fifo = fx.dir .. "/stdin"
      H.sh("mkfifo " .. H.q(fifo))
      -- the application: registers for restart, holds the file, says so
      -- in the state file, and waits for a line on its standard input (the
      -- first instance reads a fifo no one writes)
      H.write(fx.dir .. "/app.lua", [[
        local core = require "restartmanager.core"
        -- lua.exe's arg holds the ANSI code page's idea of the arguments
        local args = table.move(core.utf8_arguments(arg), 1, #arg, 1, {})
        -- the executable is lua.exe: the script comes first
        assert(core.register_application_restart({ arg[0], table.unpack(args) }))
        local f = assert(io.open(]] .. lit(win(held)) .. [[, "rb"))
        local s = assert(io.open(]] .. lit(win(state)) .. [[, "ab"))
        s:write("start args=", table.concat(args, "|"), "\n")
        s:close()
        io.read()
        s = assert(io.open(]] .. lit(win(state)) .. [[, "ab"))
        s:write("input ended\n")
        s:close()
        f:close()
      ]])
      -- whatever instance still holds the file is ended by force
      H.finally(finally, function()
        run([[
          assert(rm.close({ files = { ]] .. lit(win(held)) .. [[ } },
            { force = true, timeout = 0 }))
          assert(#assert(rm.who_uses({ ]] .. lit(win(held)) .. [[ })) == 0)
        ]])
      end)
      local pid = H.sh("(exec env " .. W.words { store = fx.store }
        .. " wine " .. H.q(W.WIN64 .. "/lua.exe") .. " "
        .. H.q(win(fx.dir .. "/app.lua")) .. " --state 'two words' è"
        .. " <>" .. H.q(fifo) .. " >" .. H.q(fx.dir .. "/app.out")
        .. " 2>&1 & echo $!)")
      local app = { pid = assert(tonumber(pid:match("%d+"))) }
      function app.output() return H.read(fx.dir .. "/app.out") or "" end
      local start = H.start_time(app.pid)
      function app.kill() H.kill(app.pid, start) end
      fx.track(app)
      H.wait_for(function() return (H.read(state) or ""):match("\n") end,
        function() return "the app's first start: " .. app.output() end)
      assert.matches("start args=%-%-state|two words|è\n", H.read(state) or "",
        app.output())
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        local apps = assert(rm.who_uses({ path }))
        R.restartable = apps[1] and apps[1].restartable
        R.ok = { rm.update({ files = { path } }, function()
          local f = assert(io.open(path, "wb"))
          f:write("v2")
          f:close()
        end, { force = true, timeout = 1 }) }
        local plan = R.ok[2]
        R.ok[2] = nil
        R.outcome = plan and plan.apps[1].outcome
        R.restart_outcome = plan and plan.apps[1].restart_outcome
      ]])
      assert.is_true(res.R.restartable, res.out)
      assert.is_true(res.R.ok[1], res.out)
      assert.equal("forced", res.R.outcome)
      assert.equal("restarted", res.R.restart_outcome)
      assert.equal("v2", H.read(held))
      assert.is_true(H.gone(app.pid))
      -- the new instance, with the same arguments
      H.wait_for(function()
        local _, n = (H.read(state) or ""):gsub("start args=", "")
        return n >= 2
      end, function() return "the app's second start: " .. (H.read(state) or "") end)
      -- (the new console Wine gives the restarted instance has no input:
      -- it reads the end of it at once, says so and ends)
      local starts = {}
      for line in (H.read(state) or ""):gmatch("[^\n]+") do
        if line:match("^start") then starts[#starts + 1] = line end
      end
      assert.same({ "start args=--state|two words|è",
        "start args=--state|two words|è" }, starts)
    end)

  it("lets a secondary started with spawn_secondary join and register a file "
    .. "that the primary lists", function()
      local held = fx.file("joined.bin", "x")
      local h = holder("exclusive", held)
      H.write(fx.dir .. "/secondary.lua", [[
        local rm = require "restartmanager"
        local key = rm.handed_key(arg)
        local s = assert(rm.join(key))
        assert(not s.primary)
        assert(s:register({ files = { ]] .. lit(win(held)) .. [[ } }))
        s:close()
      ]])
      local res = run([[
        local s = assert(rm.start())
        R.before = #assert(s:list())
        R.status = { rm.spawn_secondary({ ]] .. lit(win(W.WIN64 .. "/lua.exe"))
          .. [[, ]] .. lit(win(fx.dir .. "/secondary.lua")) .. [[ },
          { session = s, wait = true }) }
        local apps = assert(s:list())
        R.pids = {}
        for _, a in ipairs(apps) do R.pids[#R.pids + 1] = a.pid end
        s:close()
        -- the key of an ended session joins nothing
        R.late = { rm.join(s.key) }
      ]])
      assert.equal(0, res.R.before)
      assert.same({ 0, "exit" }, res.R.status, res.out)
      assert.same({ h.winpid }, res.R.pids)
      assert.is_nil(res.R.late[1])
      assert.equal(1219, res.R.late[3])
    end)

  it("spares what a never-touch path rule names", function()
    local held = fx.file("spared.bin", "x")
    local h = holder("exclusive", held)
    local res = run([[
      local path = ]] .. lit(win(held)) .. [[
      local plan = assert(rm.plan({ files = { path } },
        { force = true, never = { paths = { ]] .. lit(win(W.STANDIN))
        .. [[ } } }))
      R.action = plan.apps[1] and plan.apps[1].action
      R.exe = plan.apps[1] and plan.apps[1].executable
      R.closed = { rm.close({ files = { path } },
        { force = true, timeout = 1, never = { paths = { ]]
        .. lit(win(W.WINHOLDER)) .. [[ } } }) }
      R.outcome = R.closed[2] and R.closed[2].apps[1].outcome
      R.closed[2] = nil
    ]])
    assert.equal("spare", res.R.action, res.out)
    assert.equal((win(W.WINHOLDER):gsub("/", "\\")), res.R.exe)
    assert.is_true(res.R.closed[1], res.out)
    assert.equal("spared", res.R.outcome)
    assert.is_true(h.alive())
  end)

  it("runs the command-line tool's list, run and close", function()
    local held = fx.file("cli.bin", "x")
    local h = holder("exclusive", held)
    local tool = win(H.ROOT .. "/bin/restartmanager")
    local res = run([[
      local function cli(...)
        arg = { [0] = ]] .. lit(tool) .. [[, ... }
        local cli = require "restartmanager.cli"
        local out, err = {}, {}
        local sink = function(t) return { write = function(_, ...)
          for _, s in ipairs { ... } do t[#t + 1] = s end end,
          flush = function() end } end
        local rc = cli.main(arg, sink(out), sink(err))
        return rc, table.concat(out), table.concat(err)
      end
      R.list = { cli("list", "--json", ]] .. lit(win(held)) .. [[) }
      R.run = { cli("run", "--file", ]] .. lit(win(held)) .. [[, "--force",
        "--timeout", "1", "--", "cmd.exe", "/c", "exit 4") }
      R.close = { cli("close", "--force", "--timeout", "1",
        ]] .. lit(win(held)) .. [[) }
    ]])
    assert.equal(0, res.R.list[1], res.R.list[3])
    assert.matches('"pid":%s*' .. h.winpid, res.R.list[2])
    -- run: the command's status; the holder was stopped for it
    assert.equal(4, res.R.run[1], res.R.run[3])
    assert.is_true(H.gone(h.pid))
    -- nobody holds it now: nothing to close
    assert.equal(0, res.R.close[1], res.R.close[3])
  end)

  it("takes a path with characters the ANSI code page lacks on its command "
    .. "line", function()
      local held = fx.file("dossier-è-日本.bin", "x")
      local h = holder("exclusive", held)
      local dir = H.tmpdir()
      H.finally(finally, function() H.sh("rm -rf " .. H.q(dir)) end)
      local _, rc = H.sh("cd " .. H.q(dir) .. " && env "
        .. W.words { store = fx.store } .. " wine "
        .. H.q(W.WIN64 .. "/lua.exe") .. " "
        .. H.q(win(H.ROOT .. "/bin/restartmanager")) .. " list --json "
        .. H.q(win(held)) .. " >out 2>err </dev/null")
      local out = (H.read(dir .. "/out") or ""):gsub("\r\n", "\n")
      assert.equal(0, rc, out .. (H.read(dir .. "/err") or ""))
      assert.matches('"pid":%s*' .. h.winpid, out)
    end)

  it("keeps the native semantics of filters, cancel and the conductor's "
    .. "calls", function()
      local held = fx.file("core.bin", "x")
      local h = holder("exclusive", held)
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        local s, key = assert(core.start_session())
        assert(s:register_resources({ path }))
        local apps = assert(s:get_list(8))
        local p = { pid = apps[1].pid, start_time = apps[1].start_time }
        -- a secondary lists, but may not stop, restart, filter or cancel
        local j = assert(core.join_session(key))
        R.joined_list = #assert(j:get_list(8))
        R.secondary = { select(3, j:shutdown(core.shutdown.force)),
          select(3, j:restart()), select(3, j:cancel()),
          select(3, j:add_filter("process", p, "no_shutdown")) }
        j:end_session()
        -- a no_shutdown filter spares the process, even with force
        assert(s:add_filter("process", p, "no_shutdown"))
        R.filters = #assert(s:get_filter_list())
        R.masked = assert(s:get_list(8))[1].status
        R.spared = { s:shutdown(core.shutdown.force, nil, 1000) }
        assert(s:remove_filter("process", p))
        -- cancelled from the progress function before anything is ended
        R.seen = {}
        R.cancelled = { s:shutdown(core.shutdown.force, function(pct)
          R.seen[#R.seen + 1] = pct
          s:cancel()
        end, 1000) }
        R.still = #assert(s:get_list(8))
        -- restart before a shutdown that stopped anything is out of order
        -- only when nothing was shut down at all: a fresh session
        local t = assert(core.start_session())
        R.early = { select(3, t:restart()) }
        t:end_session()
        s:end_session()
        R.ended = { select(3, core.cancel(key)) }
      ]])
      assert.equal(1, res.R.joined_list, res.out)
      assert.same({ 1219, 1219, 1219, 1219 }, res.R.secondary)
      assert.equal(1, res.R.filters)
      -- shutdown_masked and restart_masked, still running
      assert.equal(0x41 | 0x80, res.R.masked)
      assert.same({ true }, res.R.spared)
      assert.same({ nil, res.R.cancelled[2], 1223 }, res.R.cancelled)
      assert.same({ 0 }, res.R.seen)
      assert.equal(1, res.R.still)
      assert.is_true(h.alive())
      assert.same({ 776 }, res.R.early)
      assert.same({ 6 }, res.R.ended)
    end)

  it("keeps the filter list by the native backend's rules: replaced, "
    .. "listed, removed, refused, applied to who holds a file", function()
      local held = fx.file("filtered.bin", "x")
      local h = holder("exclusive", held)
      local res = run([[
        local path = ]] .. lit(win(held)) .. [[
        local s = assert(core.start_session())
        local p = { pid = 1, start_time = 5 }
        assert(s:add_filter("file", path, "no_restart"))
        assert(s:add_filter("process", p, "no_shutdown"))
        assert(s:add_filter("service", "Svc", "no_restart"))
        -- the latest for a target replaces the earlier one
        assert(s:add_filter("file", path, "no_shutdown"))
        R.list = assert(s:get_filter_list())
        table.sort(R.list, function(a, b) return a.kind < b.kind end)
        R.removed = s:remove_filter("process", p)
        R.again = { s:remove_filter("process", p) }
        R.left = #assert(s:get_filter_list())
        -- refused: an empty path; a filter that is not there
        R.empty = { select(3, s:add_filter("file", "", "no_restart")) }
        R.none = { select(3, s:remove_filter("file", path .. ".none")) }
        R.left_after = #assert(s:get_filter_list())
        -- the file filter applies to the program holding the file
        assert(s:register_resources({ path }))
        local apps = assert(s:get_list(8))
        R.pid, R.shut = apps[1].pid, apps[1].status
        assert(s:add_filter("file", path, "no_restart"))
        R.restart = assert(s:get_list(8))[1].status
        assert(s:remove_filter("file", path))
        R.plain = assert(s:get_list(8))[1].status
        s:end_session()
      ]])
      assert.same({
        { kind = "file", target = win(held), action = "no_shutdown" },
        { kind = "process", target = { pid = 1, start_time = 5 },
          action = "no_shutdown" },
        { kind = "service", target = "Svc", action = "no_restart" },
      }, res.R.list, res.out)
      assert.is_true(res.R.removed)
      assert.is_nil(res.R.again[1])
      assert.matches("^ERROR_FILE_NOT_FOUND %(2%)", res.R.again[2])
      assert.equal(2, res.R.again[3])
      assert.equal(2, res.R.left)
      assert.same({ 160 }, res.R.empty)
      assert.same({ 2 }, res.R.none)
      assert.equal(2, res.R.left_after)
      assert.equal(h.winpid, res.R.pid)
      -- running; no_shutdown masks shutdown and restart, no_restart the
      -- restart alone, and without the filter nothing is masked
      assert.equal(0x1 | 0x40 | 0x80, res.R.shut)
      assert.equal(0x1 | 0x80, res.R.restart)
      assert.equal(0x1, res.R.plain)
      assert.is_true(h.alive())
    end)
end)
