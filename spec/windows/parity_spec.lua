-- The native backend's user-level scenarios (who uses, never-touch rules,
-- update with and without force, close, restart, join, the command-line
-- tool and its exit statuses) run against the Windows build under Wine with
-- the win32 engine, and against Windows programs the project did not
-- write: cmd.exe holding a file through a redirection, notepad.exe, a
-- program started with `start /min`, beside winholder.exe's hidden window,
-- a window that ignores WM_CLOSE and a file held for reading with every
-- sharing. Where the outcome differs from the native backend's, the
-- difference is the documented one (docs/windows.md, "Differences from the
-- native backend"). One X server for the whole file, so that the
-- wineserver every program here shares has a display.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"
local json = require "dkjson"

local function win(path) return W.winpath(path) end

-- Lua source for a string literal
local function lit(s) return ("%q"):format(s) end

local SYSTEM32 = "C:\\windows\\system32\\"

-- Lua for the scripts: nap(ms) (a Lua program cannot sleep: winholder.exe
-- naps for it), and wait_app(path, type): the apps using path, once one of
-- them is of that type (any type when nil), within 60 s
local WAIT = [[
local core = require "restartmanager.core"
local rm = require "restartmanager"
local function nap(ms)
  local pid = assert(core.spawn({ ]] .. lit(win(W.WINHOLDER)) .. [[, "nap",
    tostring(ms) }))
  core.wait(pid)
end
local function wait_app(path, type)
  for _ = 1, 300 do
    local apps = assert(rm.who_uses({ path }))
    for _, a in ipairs(apps) do
      if type == nil or a.type == type then return apps end
    end
    nap(200)
  end
  error("nobody of type " .. tostring(type) .. " uses " .. path)
end
local function outcomes(plan)
  local t = {}
  for _, a in ipairs(plan and plan.apps or {}) do
    t[a.name] = a.outcome or a.action
  end
  return t
end
]]

describe("the native scenarios on the Windows build #wine", function()
  local fx, x

  setup(function()
    -- the wineserver the programs below share must start with the display
    W.quiet()
    x = W.xvfb()
  end)

  teardown(function()
    -- the X server goes even when a program was left running
    local ok, err = pcall(W.quiet)
    x.stop()
    assert(ok, err)
  end)

  before_each(function()
    fx = W.scratch()
  end)

  after_each(function()
    fx.cleanup()
  end)

  local function env_words()
    return W.words { display = x.display, store = fx.store }
  end

  -- Runs a script in the Windows Lua (x86_64), win32 engine, this test's
  -- store and the display; it must end well.
  local function run(code, opts)
    opts = opts or {}
    opts.engine = "win32"
    opts.display = x.display
    return fx.run(WAIT .. code, opts)
  end

  -- Starts a Windows program (words already quoted) under Wine, its
  -- standard input a fifo nobody writes (it never ends), its output in a
  -- file, in the directory cwd (default: a directory of its own).
  -- Returns a child as H.start does (pid: the Linux pid of the
  -- Windows process).
  local function start(words, cwd)
    local dir = H.tmpdir()
    H.sh("mkfifo " .. H.q(dir .. "/in"))
    local pid = H.sh("(cd " .. H.q(cwd or dir) .. " && exec env " .. env_words() .. " wine " .. words
      .. " <>" .. H.q(dir .. "/in") .. " >" .. H.q(dir .. "/out")
      .. " 2>&1 & echo $!)")
    local child = { pid = assert(tonumber(pid:match("%d+"))) }
    child.start_time = H.start_time(child.pid)
    function child.output() return H.read(dir .. "/out") or "" end
    function child.alive()
      return H.alive(child.pid) and H.start_time(child.pid) == child.start_time
    end
    function child.kill()
      -- only while its pid still names it (and until it has ended)
      H.kill(child.pid, child.start_time)
      H.sh("rm -rf " .. H.q(dir))
    end
    return fx.track(child)
  end

  -- cmd.exe running `pause` with its output redirected into the file:
  -- cmd holds it open for writing until a key is pressed. Returns once the
  -- prompt is in the file.
  local function cmd_holding(file)
    local before = H.read(file)
    local child = start(H.q(SYSTEM32 .. "cmd.exe") .. " /c "
      .. H.q("pause > " .. win(file):gsub("/", "\\")))
    H.wait_for(function() return H.read(file) ~= before or not child.alive() end,
      function() return "cmd.exe to open " .. file .. ": " .. child.output() end)
    assert(H.read(file) ~= before, "cmd.exe did not open " .. file .. ": "
      .. child.output())
    return child
  end

  local function holder(mode, file)
    return fx.track(W.holder(mode, file, { display = x.display }))
  end

  -- Whatever still uses the paths is ended by force when the test ends.
  local function force_close_at_end(paths)
    local list = {}
    for i, p in ipairs(paths) do list[i] = lit(p) end
    H.finally(finally, function() fx.cleanup() end)
    H.finally(finally, function()
      run("assert(rm.close({ files = { " .. table.concat(list, ", ")
        .. " } }, { force = true, timeout = 1, allow_missing = true }))")
    end)
  end

  it("who_uses finds a redirection cmd.exe holds, a file open for reading "
    .. "with every sharing, a running executable, a DLL's image, and what "
    .. "uses a directory or a file beneath it", function()
      -- a directory: a file beneath it cmd.exe holds, a program run from
      -- it, and cmd.exe working in it (its current directory is a handle);
      -- beside it a directory whose name starts the same
      local workdir = fx.dir .. "/work"
      H.sh("mkdir -p " .. H.q(workdir .. "/sub") .. " " .. H.q(fx.dir .. "/wor"))
      local redirected = fx.file("work/sub/redirected.txt", "old")
      local shared = fx.file("shared.bin", "data")
      local doc = fx.file("doc.txt", "a document")
      -- a copy of the Windows Lua in a folder of its own: the process that
      -- runs it has that folder's lua54.dll as an image
      local copy = workdir .. "/bin"
      H.sh("mkdir -p " .. H.q(copy) .. " && cp " .. H.q(W.WIN64 .. "/lua.exe")
        .. " " .. H.q(W.WIN64 .. "/lua54.dll") .. " " .. H.q(copy))
      force_close_at_end({ SYSTEM32 .. "notepad.exe", win(copy .. "/lua54.dll"),
        win(fx.dir .. "/work") })
      local c = cmd_holding(redirected)
      local r = holder("read", shared)
      local n = start(H.q(SYSTEM32 .. "notepad.exe") .. " " .. H.q(win(doc)))
      local l = start(H.q(copy .. "/lua.exe") .. " -e " .. H.q("io.read()"))
      local w = start(H.q(SYSTEM32 .. "cmd.exe") .. " /c pause", workdir)
      local res = run([[
        local function who(path)
          local t = {}
          for _, a in ipairs(assert(rm.who_uses({ path }))) do
            t[#t + 1] = { pid = a.pid, name = a.name, type = a.type,
              restartable = a.restartable, start = a.start_time > 0 }
          end
          return t
        end
        wait_app(]] .. lit(SYSTEM32 .. "notepad.exe") .. [[, "main_window")
        wait_app(]] .. lit(win(copy .. "/lua54.dll")) .. [[)
        -- until the three users are there
        for _ = 1, 300 do
          if #assert(rm.who_uses({ ]] .. lit(win(workdir)) .. [[ })) >= 3 then
            break
          end
          nap(200)
        end
        R.workdir = {}
        for _, a in ipairs(who(]] .. lit(win(workdir)) .. [[)) do
          R.workdir[#R.workdir + 1] = a.name
        end
        table.sort(R.workdir)
        R.wor = who(]] .. lit(win(fx.dir .. "/wor")) .. [[)
        R.sub = who(]] .. lit(win(workdir .. "/sub")) .. [[)
        R.redirected = who(]] .. lit(win(redirected)) .. [[)
        R.shared = who(]] .. lit(win(shared)) .. [[)
        R.doc = who(]] .. lit(win(doc)) .. [[)
        R.notepad = who(]] .. lit(SYSTEM32 .. "notepad.exe") .. [[)
        R.dll = who(]] .. lit(win(copy .. "/lua54.dll")) .. [[)
        R.exe = who(]] .. lit(win(copy .. "/lua.exe")) .. [[)
        -- the caller's own lua54.dll: itself, which it cannot stop
        local apps, reasons = rm.who_uses({ ]] .. lit(win(W.WIN64 .. "/lua54.dll"))
          .. [[ })
        R.self = { n = #apps, detected_self = reasons and reasons.detected_self }
      ]])
      local function one(t, name, type)
        return { { name = name, type = type, restartable = false, start = true,
          pid = t[1] and t[1].pid } }
      end
      assert.same(one(res.R.redirected, "cmd.exe", "console"), res.R.redirected)
      assert.same(one(res.R.shared, "winholder.exe", "console"), res.R.shared)
      assert.equal(r.winpid, res.R.shared[1].pid)
      -- notepad reads its document and closes it, as on Windows: it is
      -- found by its running executable only
      assert.same({}, res.R.doc)
      assert.same(one(res.R.notepad, "notepad.exe", "main_window"), res.R.notepad)
      assert.same(one(res.R.dll, "lua.exe", "console"), res.R.dll)
      assert.same(res.R.dll, res.R.exe)
      assert.equal(1, res.R.self.n)
      assert.is_true(res.R.self.detected_self)
      assert.same({ "cmd.exe", "cmd.exe", "lua.exe" }, res.R.workdir)
      assert.same({}, res.R.wor)
      assert.same(res.R.redirected, res.R.sub)
      assert.is_true(c.alive() and n.alive() and l.alive() and w.alive())
    end)

  it("plans with never-touch rules by name, type and path, and stops nothing",
    function()
      local redirected = fx.file("redirected.txt", "old")
      local shared = fx.file("shared.bin", "data")
      force_close_at_end({ win(redirected), win(shared) })
      local c = cmd_holding(redirected)
      local r = holder("read", shared)
      local res = run([[
        local files = { files = { ]] .. lit(win(redirected)) .. [[,
          ]] .. lit(win(shared)) .. [[ } }
        local function actions(never)
          local plan = assert(rm.plan(files, { force = true, never = never }))
          local t = {}
          for _, a in ipairs(plan.apps) do
            t[a.name] = a.action
            if a.action == "spare" then t[a.name .. " why"] = a.why end
          end
          return t
        end
        R.none = actions(nil)
        -- names and paths compare as Windows compares file names
        R.name = actions({ names = { "CMD.EXE" } })
        R.type = actions({ types = { "console" } })
        R.path = actions({ paths = { "c:/Windows/System32" } })
      ]])
      assert.same({ ["cmd.exe"] = "stop", ["winholder.exe"] = "stop" },
        res.R.none)
      assert.same({ ["cmd.exe"] = "spare", ["winholder.exe"] = "stop",
        ["cmd.exe why"] = 'never-touch rule: name "CMD.EXE"' }, res.R.name)
      assert.equal("spare", res.R.type["cmd.exe"])
      assert.equal("spare", res.R.type["winholder.exe"])
      assert.same({ ["cmd.exe"] = "spare", ["winholder.exe"] = "stop",
        ["cmd.exe why"] = 'never-touch rule: executable under "c:/Windows/System32"' },
        res.R.path)
      -- a dry run
      assert.is_true(c.alive() and r.alive())
    end)

  it("updates a file cmd.exe holds: a console program is stopped only by "
    .. "force", function()
      local redirected = fx.file("redirected.txt", "old")
      force_close_at_end({ win(redirected) })
      local c = cmd_holding(redirected)
      local res = run([[
        local path = ]] .. lit(win(redirected)) .. [[
        local function replace()
          R.replaced = (R.replaced or 0) + 1
          local f = assert(io.open(path, "wb"))
          f:write("new")
          f:close()
        end
        local ok, err, code, plan = rm.update({ files = { path } }, replace,
          { timeout = 2 })
        R.polite = { ok = ok, code = code, outcomes = outcomes(plan) }
        local fok, fplan = rm.update({ files = { path } }, replace,
          { force = true, timeout = 2 })
        R.forced = { ok = fok, outcomes = outcomes(fplan),
          down = fplan and #fplan.down }
      ]])
      -- the native backend would have asked it with SIGTERM and stopped it
      assert.same({ ok = nil, code = 351,
        outcomes = { ["cmd.exe"] = "not_stopped" } }, res.R.polite)
      assert.same({ ok = true, outcomes = { ["cmd.exe"] = "forced" },
        down = 1 }, res.R.forced, res.out)
      assert.equal(1, res.R.replaced)
      assert.equal("new", H.read(redirected))
      assert.is_true(H.gone(c.pid, 30))
    end)

  it("closes window programs politely: notepad started with start /min, a "
    .. "program whose window is hidden; one that ignores WM_CLOSE only with "
    .. "force", function()
      local doc = fx.file("doc.txt", "a document")
      local hidden = fx.file("hidden.txt", "x")
      local ignoring = fx.file("ignoring.txt", "x")
      force_close_at_end({ SYSTEM32 .. "notepad.exe", win(hidden), win(ignoring) })
      -- start /min: cmd.exe starts notepad minimized and ends
      local c = start(H.q(SYSTEM32 .. "cmd.exe") .. " /c start /min notepad.exe "
        .. H.q(win(doc)))
      local h = holder("hidden", hidden)
      local i = holder("ignore", ignoring)
      local res = run([[
        local np = wait_app(]] .. lit(SYSTEM32 .. "notepad.exe") .. [[,
          "main_window")
        R.np_pid = np[1].pid
        R.hidden_type = assert(rm.who_uses({ ]] .. lit(win(hidden)) .. [[ }))[1].type
        local ok, plan = rm.close({ files = { ]] .. lit(SYSTEM32 .. "notepad.exe")
          .. [[, ]] .. lit(win(hidden)) .. [[ } }, { timeout = 30 })
        R.polite = { ok = ok, outcomes = outcomes(plan) }
        R.np_after = #assert(rm.who_uses({ ]] .. lit(SYSTEM32 .. "notepad.exe")
          .. [[ }))
        local iok, _, icode, iplan = rm.close({ files = { ]] .. lit(win(ignoring))
          .. [[ } }, { timeout = 3 })
        R.ignored = { ok = iok, code = icode, outcomes = outcomes(iplan) }
        local fok, fplan = rm.close({ files = { ]] .. lit(win(ignoring))
          .. [[ } }, { force = true, timeout = 1 })
        R.forced = { ok = fok, outcomes = outcomes(fplan) }
      ]])
      assert.equal("other_window", res.R.hidden_type, res.out)
      assert.same({ ok = true, outcomes = { ["notepad.exe"] = "stopped",
        ["winholder.exe"] = "stopped" } }, res.R.polite)
      assert.equal(0, res.R.np_after)
      -- the hidden window was asked as at log-off and closed itself
      assert.equal("queryendsession 1\nendsession 1\nclose\nexit\n", h.log())
      assert.is_true(H.gone(h.pid, 30))
      assert.same({ ok = nil, code = 351,
        outcomes = { ["winholder.exe"] = "not_stopped" } }, res.R.ignored)
      assert.same({ ok = true, outcomes = { ["winholder.exe"] = "forced" } },
        res.R.forced)
      -- asked (the forced close asks once more before it ends it), never
      -- closed itself
      assert.matches("^queryendsession 1\nendsession 1\nclose\n", i.log())
      assert.not_matches("exit", i.log())
      assert.is_true(H.gone(i.pid, 30))
      assert.is_false(c.alive())
    end)

  it("lets a second process join by key and register a file the primary "
    .. "lists", function()
      local redirected = fx.file("redirected.txt", "old")
      force_close_at_end({ win(redirected) })
      cmd_holding(redirected)
      H.write(fx.dir .. "/second.lua", [[
        local rm = require "restartmanager"
        local s = assert(rm.join(arg[1]))
        assert(s:register({ files = { ]] .. lit(win(redirected)) .. [[ } }))
        local apps = assert(s:list())
        io.stdout:write("second lists ", #apps, " ", apps[1] and apps[1].name
          or "-", "\n")
        s:close()
      ]])
      local res = run([[
        local s = assert(rm.start())
        R.before = #assert(s:list())
        local pid = assert(core.spawn({ ]] .. lit(win(W.WIN64 .. "/lua.exe"))
          .. [[, ]] .. lit(win(fx.dir .. "/second.lua")) .. [[, s.key }))
        R.status = { core.wait(pid) }
        R.names = {}
        for _, a in ipairs(assert(s:list())) do R.names[#R.names + 1] = a.name end
        s:close()
      ]])
      assert.equal(0, res.R.before)
      assert.same({ "exit", 0 }, res.R.status, res.out)
      assert.matches("second lists 1 cmd.exe", res.out)
      assert.same({ "cmd.exe" }, res.R.names)
    end)

  describe("the command-line tool", function()
    -- bin/restartmanager in lua.exe, a process of its own: its output and
    -- its exit status
    local function cli(args)
      local dir = H.tmpdir()
      local words = {}
      for i, a in ipairs(args) do words[i] = H.q(a) end
      local _, rc = H.sh("cd " .. H.q(dir) .. " && env " .. env_words()
        .. " wine " .. H.q(W.WIN64 .. "/lua.exe") .. " "
        .. H.q(win(H.ROOT .. "/bin/restartmanager")) .. " "
        .. table.concat(words, " ") .. " >out 2>err </dev/null")
      local out = (H.read(dir .. "/out") or ""):gsub("\r\n", "\n")
      local err = (H.read(dir .. "/err") or ""):gsub("\r\n", "\n")
      H.sh("rm -rf " .. H.q(dir))
      return rc, out, err
    end

    local function doc(out)
      local d = json.decode(out)
      assert(type(d) == "table", "not JSON: " .. out)
      return d
    end

    it("lists, plans and closes with --json, with the documented exit "
      .. "statuses", function()
        local redirected = fx.file("redirected.txt", "old")
        local path = win(redirected)
        force_close_at_end({ path })
        local c = cmd_holding(redirected)
        local rc, out, err = cli({ "list", "--json", path })
        assert.equal(0, rc, err)
        local d = doc(out)
        assert.is_true(d.ok)
        assert.equal("cmd.exe", d.apps[1].name)
        -- a file that does not exist: 1
        rc, out = cli({ "list", "--json", path .. ".missing" })
        assert.equal(1, rc)
        assert.is_false(doc(out).ok)
        -- the dry run; 3 when the update would be refused
        rc, out, err = cli({ "plan", "--json", "--force", path })
        assert.equal(0, rc, err)
        assert.equal("stop", doc(out).apps[1].action)
        rc, out = cli({ "plan", "--json", "--only-registered", path })
        assert.equal(3, rc, out)
        assert.is_true(c.alive())
        -- a console program stays without --force: 1; --force ends it: 0
        rc, out = cli({ "close", "--json", "--timeout", "2", path })
        assert.equal(1, rc, out)
        assert.equal("not_stopped", doc(out).apps[1].outcome)
        assert.is_true(c.alive())
        rc, out, err = cli({ "close", "--json", "--force", "--timeout", "1", path })
        assert.equal(0, rc, err)
        assert.equal("forced", doc(out).apps[1].outcome)
        assert.is_true(H.gone(c.pid, 30))
      end)

    it("runs a command between stopping and restarting, and exits with its "
      .. "status, 5, 125 or 127 as documented", function()
        local held = fx.file("data.bin", "v1")
        local redirected = fx.file("redirected.txt", "old")
        local state = fx.dir .. "/state"
        force_close_at_end({ win(held), win(redirected) })
        -- a Windows Lua application registered for restart with its
        -- arguments, holding held
        H.write(fx.dir .. "/app.lua", [[
          local core = require "restartmanager.core"
          assert(core.register_application_restart({ arg[0], arg[1] }))
          local f = assert(io.open(]] .. lit(win(held)) .. [[, "rb"))
          local s = assert(io.open(]] .. lit(win(state)) .. [[, "ab"))
          s:write("start ", arg[1], "\n")
          s:close()
          -- runs until stopped: the first instance reads a fifo nobody
          -- writes, a restarted one the new console Wine shows it on the
          -- display
          io.read()
          s = assert(io.open(]] .. lit(win(state)) .. [[, "ab"))
          s:write("input ended\n")
          s:close()
        ]])
        -- until the application's nth instance holds the file
        local function started(n)
          pcall(H.wait_for, function()
            local _, k = (H.read(state) or ""):gsub("start", "")
            return k >= n
          end, "")
          assert.equal(("start --resume\n"):rep(n), H.read(state))
        end
        start(H.q(W.WIN64 .. "/lua.exe") .. " " .. H.q(win(fx.dir .. "/app.lua"))
          .. " --resume")
        started(1)
        local c = cmd_holding(redirected)
        local path, rpath = win(held), win(redirected)
        -- refused (only registered, and cmd.exe is not): 125, nothing run
        local rc, _, err = cli({ "run", "--json", "--file", path, "--file",
          rpath, "--only-registered", "--", "cmd.exe", "/c", "exit 0" })
        assert.equal(125, rc, err)
        assert.equal("not_run", doc(err:match("(%b{})%s*$") or err).run.how)
        assert.is_true(c.alive())
        -- a command that does not exist: 127, and the app comes back
        rc, _, err = cli({ "run", "--file", path, "--force", "--timeout",
          "1", "--", "no-such-command.exe" })
        assert.equal(127, rc, err)
        started(2)
        -- the command's status; what was stopped came back
        rc, _, err = cli({ "run", "--json", "--file", path, "--force",
          "--timeout", "1", "--", "cmd.exe", "/c", "exit 4" })
        assert.equal(4, rc, err)
        -- the report: the application forced and restarted
        local d = doc(err:match("(%b{})%s*$") or err)
        assert.equal("forced", d.apps[1].outcome)
        assert.equal("restarted", d.apps[1].restart_outcome)
        -- cmd.exe is not registered: it stays down, so 5 for a command that
        -- succeeded
        rc, _, err = cli({ "run", "--file", rpath, "--force", "--timeout",
          "1", "--", "cmd.exe", "/c", "exit 0" })
        assert.equal(5, rc, err)
        assert.matches("stays down", err)
        assert.is_true(H.gone(c.pid, 30))
        -- every run brought the application back, with its arguments
        started(3)
      end)
  end)
end)
