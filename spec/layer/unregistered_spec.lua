-- Programs that never registered for restart, through the Lua layer:
-- rm.update with restart_unregistered brings them back from what was
-- captured before the stop; without it they stay down and the report says
-- so; programs with a terminal are not stopped without asking; a parent
-- with children of the same program comes back once.
local H = require "spec.helpers"

local pids_of = H.pids_of

local cmdline = H.cmdline

local environ = H.environ

local function stat_field(pid, n)
  local st = H.read("/proc/" .. pid .. "/stat") or ""
  local rest = st:match("%) (.*)$") or ""
  local i = 2
  for f in rest:gmatch("%S+") do
    i = i + 1
    if i == n then return f end
  end
end

local function wait_exe(pid, path)
  for _ = 1, 500 do
    if H.sh("readlink /proc/" .. pid .. "/exe"):find(path, 1, true) then
      return pid
    end
    H.sh("sleep 0.01")
  end
  error(("process %d never ran %s"):format(pid, path))
end

describe("programs that never registered #native", function()
  local rm, fx, prog

  setup(function()
    rm = require "restartmanager"
  end)

  before_each(function()
    fx = H.scratch()
    prog = fx.dir .. "/copied-sleep"
    H.sh("cp /bin/sleep " .. H.q(prog) .. " && mkdir -p " .. H.q(fx.dir
      .. "/its dir"))
  end)

  after_each(function()
    for _, pid in ipairs(pids_of(prog)) do
      H.sh("kill -KILL " .. pid)
      H.gone(pid)
    end
    fx.cleanup()
  end)

  -- the copied binary with arguments, a working directory and a variable
  -- of its own, in a session of its own (no terminal)
  local function start_prog(seconds, prefix)
    local child = fx.track(H.start(("sh -c %s"):format(H.q(("cd %s && exec "
      .. "setsid env RM_OWN_VAR='its value' %s %s %s 0.5")
      :format(H.q(fx.dir .. "/its dir"), prefix or "", H.q(prog), seconds)))))
    if not prefix then wait_exe(child.pid, prog) end
    return child
  end

  -- rm.update over the program's executable in another process (the
  -- installer), which ends afterwards: its output
  local function update_in_child(opts_src)
    return H.lua(([[
      local rm = require "restartmanager"
      local ok, plan, code = rm.update({ files = { %q } }, function() end,
        %s)
      print("ok=" .. tostring(ok) .. " code=" .. tostring(code))
      print(tostring(plan))
      for _, e in ipairs((type(plan) == "table" and plan or {}).apps or {}) do
        print(("app pid=%%d outcome=%%s restart=%%s via=%%s new=%%s"):format(
          e.pid, tostring(e.outcome), tostring(e.restart_outcome),
          tostring(e.restart_via), tostring(e.restarted_pid)))
      end
      print("installer=" .. io.open("/proc/self/stat"):read("l"):match("^%%d+"))
    ]]):format(prog, opts_src))
  end

  it("brings one back with restart_unregistered, as it was", function()
    local child = start_prog(401)
    local uid = H.sh("id -u"):match("%d+")
    local out = update_in_child("{ restart_unregistered = true }")
    assert.matches("ok=true", out)
    local new = tonumber(out:match("restart=restarted via=command new=(%d+)"))
    assert(new, out)
    assert.is_true(H.gone(child.pid))
    assert.not_equal(child.pid, new)
    local installer = tonumber(out:match("installer=(%d+)"))
    -- the installer has ended; the program runs on, not its child
    assert.is_true(H.gone(installer))
    assert.is_true(H.alive(new))
    assert.not_equal(tostring(installer), stat_field(new, 4))
    assert.equal(prog, (H.sh("readlink /proc/" .. new .. "/exe"):gsub("\n$", "")))
    assert.same({ prog, "401", "0.5" }, cmdline(new))
    assert.equal(fx.dir .. "/its dir",
      (H.sh("readlink /proc/" .. new .. "/cwd"):gsub("\n$", "")))
    assert.equal("its value", environ(new).RM_OWN_VAR)
    assert.equal(uid, H.read("/proc/" .. new .. "/status"):match("Uid:%s*(%d+)"))
    assert.same({ new }, pids_of(prog))
  end)

  it("keeps it down without the option, and says so", function()
    local child = start_prog(402)
    local out = update_in_child("{}")
    assert.matches("ok=true", out)
    assert.is_true(H.gone(child.pid))
    assert.same({}, pids_of(prog))
    assert.matches("stays down: pid " .. child.pid
      .. " %(copied%-sleep%): not registered for restart: stays down", out)
    assert.matches("restart=not_restarted", out)
  end)

  it("follows the rules of restart_unregistered", function()
    local child = start_prog(403)
    local plan = assert(rm.plan({ files = { prog } },
      { restart_unregistered = { names = { "other" } } }))
    assert.equal(1, #plan.apps)
    assert.is_false(plan.apps[1].restart)
    plan = assert(rm.plan({ files = { prog } },
      { restart_unregistered = { paths = { fx.dir } } }))
    assert.is_true(plan.apps[1].restart)
    assert.equal("command", plan.apps[1].restart_via)
    plan = assert(rm.plan({ files = { prog } },
      { restart_unregistered = { names = { "copied-sleep" } } }))
    assert.is_true(plan.apps[1].restart)
    assert.equal(child.pid, plan.apps[1].pid)
    assert.has_error(function()
      rm.plan({ files = { prog } }, { restart_unregistered = { paths = { "rel" } } })
    end)
    assert.has_error(function()
      rm.plan({ files = { prog } }, { restart_unregistered = { bad = {} } })
    end)
    assert.has_error(function()
      rm.plan({ files = { prog } }, { restart_unregistered = "yes" })
    end)
  end)

  it("never restarts a set-user-ID copy, and says why", function()
    H.sh("chmod u+s " .. H.q(prog))
    local child = start_prog(404)
    local out = update_in_child("{ restart_unregistered = true }")
    assert.matches("ok=true", out)
    assert.is_true(H.gone(child.pid))
    assert.same({}, pids_of(prog))
    assert.matches("set%-user%-ID or set%-group%-ID program: never restarted", out)
  end)

  it("never restarts a process of another PID namespace", function()
    if not H.is_root() then pending("needs root (unshare)") return end
    -- not the namespace's init (which ignores SIGTERM from outside)
    local outer = start_prog(405, "unshare --pid --fork --mount-proc "
      .. "/bin/sh -c '\"$0\" \"$@\" & wait'")
    local inner
    for _ = 1, 500 do
      inner = pids_of(prog)[1]
      if inner then break end
      H.sh("sleep 0.01")
    end
    assert(inner, "the program in the namespace did not start")
    local out = update_in_child("{ restart_unregistered = true }")
    assert.matches("ok=true", out)
    assert.is_true(H.gone(inner))
    assert.same({}, pids_of(prog))
    assert.matches("another PID or mount namespace", out)
    H.gone(outer.pid)
  end)

  it("brings a parent with children of the same program back once", function()
    -- a copied shell whose children run the same copy (like a browser and
    -- its helper processes); each waits on a fifo it opens
    local sh = fx.dir .. "/copied-sh"
    local fifo = fx.dir .. "/fifo"
    H.sh("cp /bin/dash " .. H.q(sh) .. " && mkfifo " .. H.q(fifo))
    prog = sh -- what after_each cleans up
    local script = ("%s -c 'read x < %s' & %s -c 'read x < %s' & read x < %s")
      :format(H.q(sh), H.q(fifo), H.q(sh), H.q(fifo), H.q(fifo))
    local parent = fx.track(H.start(("setsid %s -c %s"):format(H.q(sh),
      H.q(script))))
    for _ = 1, 500 do
      if #pids_of(sh) == 3 then break end
      H.sh("sleep 0.01")
    end
    assert.equal(3, #pids_of(sh))
    local out = H.lua(([[
      local rm = require "restartmanager"
      local ok, plan = rm.update({ files = { %q } }, function() end,
        { restart_unregistered = true })
      print("ok=" .. tostring(ok))
      for _, e in ipairs(plan.apps) do
        print(("app pid=%%d restart=%%s"):format(e.pid,
          tostring(e.restart_outcome)))
      end
    ]]):format(sh))
    assert.matches("ok=true", out)
    assert.matches("app pid=" .. parent.pid .. " restart=restarted", out)
    local _, with_parent = out:gsub("restart=with_parent", "")
    assert.equal(2, with_parent, out)
    -- one parent again, which started its two children: three, not nine
    for _ = 1, 500 do
      if #pids_of(sh) >= 3 then break end
      H.sh("sleep 0.01")
    end
    local now = pids_of(sh)
    assert.equal(3, #now)
    local parents = 0
    for _, pid in ipairs(now) do
      local pp = tonumber(stat_field(pid, 4))
      local is_child = false
      for _, q in ipairs(now) do if q == pp then is_child = true end end
      if not is_child then parents = parents + 1 end
    end
    assert.equal(1, parents)
  end)

  describe("with a terminal", function()
    -- the program on a pseudo-terminal of script(1), as someone's editor
    local function on_terminal(seconds)
      local outer = fx.track(H.start("script -qfec " .. H.q(H.q(prog) .. " "
        .. seconds) .. " /dev/null"))
      local inner
      for _ = 1, 500 do
        inner = pids_of(prog)[1]
        if inner then break end
        H.sh("sleep 0.01")
      end
      assert(inner, "no program on the terminal")
      return inner, outer
    end

    it("is not stopped without asking", function()
      local pid = on_terminal(406)
      local plan = assert(rm.plan({ files = { prog } }))
      assert.equal("stop", plan.apps[1].action)
      assert.is_true(plan.apps[1].ask)
      assert.is_true(plan.apps[1].terminal)
      assert.matches("has a terminal: unsaved work may be lost", tostring(plan))
      local ok, report = rm.close({ files = { prog } })
      assert.is_true(ok)
      assert.equal("spare", report.apps[1].action)
      assert.matches("not stopped without asking", report.apps[1].why)
      assert.is_true(H.alive(pid))
      -- asked, and the answer is no
      local asked
      ok, report = rm.close({ files = { prog } }, { ask = function(apps)
        asked = #apps
        return false
      end })
      assert.is_true(ok)
      assert.equal(1, asked)
      assert.is_true(H.alive(pid))
      assert.matches("not confirmed", report.apps[1].why)
      -- spared by the policy
      ok, report = rm.close({ files = { prog } }, { terminal_apps = "spare" })
      assert.is_true(ok)
      assert.matches('terminal_apps = "spare"', report.apps[1].why)
      assert.is_true(H.alive(pid))
    end)

    it("is stopped when the answer is yes, and never restarted", function()
      local pid = on_terminal(407)
      local ok, report = rm.update({ files = { prog } }, function() end,
        { ask = function() return true end, restart_unregistered = true })
      assert.is_true(ok)
      assert.is_true(H.gone(pid))
      assert.equal("stopped", report.apps[1].outcome)
      assert.equal("not_restarted", report.apps[1].restart_outcome)
      assert.matches("controlling terminal", report.apps[1].restart_why)
      assert.equal(1, #report.down)
      assert.same({}, pids_of(prog))
    end)
  end)

  it("brings a desktop application back through its desktop file", function()
    if not H.is_root() then pending("needs root (a user manager)") return end
    if not (H.read("/usr/bin/gio") or H.read("/usr/bin/gtk-launch")) then
      pending("neither gio nor gtk-launch is installed") return
    end
    if not H.sh("command -v systemd-run"):match("/") then
      pending("systemd is not installed") return
    end
    local mgr = H.tmpdir()
    H.finally(finally, function()
      H.sh(H.q(H.ROOT .. "/spec/helpers/user_manager.sh") .. " stop "
        .. H.q(mgr))
    end)
    local out, rc = H.sh(H.q(H.ROOT .. "/spec/helpers/user_manager.sh")
      .. " start " .. H.q(mgr) .. " 2>&1")
    assert.equal(0, rc, out)
    -- its desktop entry starts it with other arguments than it runs with
    H.sh("mkdir -p " .. H.q(fx.dir .. "/share/applications"))
    H.write(fx.dir .. "/share/applications/org.example.SpecApp.desktop",
      ("[Desktop Entry]\nType=Application\nName=Spec\nExec=%s 410 0.5\n")
        :format(prog))
    -- started by a desktop: a scope named after its application id
    fx.track(H.start(("env XDG_RUNTIME_DIR=%s XDG_DATA_DIRS=%s systemd-run "
      .. "--user --scope --quiet --unit=app-spec-org.example.SpecApp-77.scope "
      .. "%s 409 0.5"):format(H.q(mgr .. "/run"), H.q(fx.dir .. "/share"),
        H.q(prog))))
    local first
    for _ = 1, 500 do
      first = pids_of(prog)[1]
      if first then break end
      H.sh("sleep 0.01")
    end
    assert(first, "the program did not start")
    local ok, report = rm.update({ files = { prog } }, function() end,
      { restart_unregistered = true })
    assert.is_true(ok)
    local e = report.apps[1]
    assert.equal("org.example.SpecApp", e.capture.app_id)
    assert.equal("desktop", e.restart_via)
    assert.equal("restarted", e.restart_outcome, e.down_why)
    assert.is_true(H.gone(first))
    local back
    for _ = 1, 500 do
      back = pids_of(prog)[1]
      if back then break end
      H.sh("sleep 0.01")
    end
    assert(back, "it did not come back")
    assert.same({ prog, "410", "0.5" }, cmdline(back))
  end)

  it("registers and unregisters the calling program (register_restart)",
    function()
      local fifo = fx.dir .. "/fifo"
      H.sh("mkfifo " .. H.q(fifo))
      -- a program that registers, waits, unregisters, waits
      local child = fx.track(H.spawn(([[
        local rm = require "restartmanager"
        assert(rm.register_restart({ "one", "two words" }, { no_crash = true }))
        print("registered") io.stdout:flush()
        io.open(%q):read("l")
        assert(rm.unregister_restart())
        print("unregistered") io.stdout:flush()
        -- the first writer may still hold the fifo: an open then returns at
        -- once and the read ends without a line; wait for the next writer
        repeat local line = io.open(%q):read("l") until line
      ]]):format(fifo, fifo)))
      child.wait_line("registered")
      local function restartable()
        local s <close> = assert(rm.start())
        assert(s:register { processes = { child.pid } })
        local apps = assert(s:list())
        return apps[1] and apps[1].restartable
      end
      assert.is_true(restartable())
      -- bounded: a child that died never opens the fifo
      assert.equal(0, select(2, H.sh("timeout 30 sh -c " .. H.q("echo > " .. H.q(fifo)))))
      child.wait_line("unregistered")
      assert.is_false(restartable())
      assert.equal(0, select(2, H.sh("timeout 30 sh -c " .. H.q("echo > " .. H.q(fifo)))),
        child.output and child.output())
      assert.has_error(function() rm.register_restart("x") end)
      assert.has_error(function() rm.register_restart({}, { no_such = true }) end)
      assert.has_error(function() rm.register_restart({}, "no_crash") end)
    end)

  it("logs what was captured, never the environment's values", function()
    local child = start_prog(408)
    local lines = {}
    local ok = rm.update({ files = { prog } }, function() end, {
      restart_unregistered = true,
      log = function(line) lines[#lines + 1] = line end })
    assert.is_true(ok)
    local text = table.concat(lines, "\n")
    assert.matches('"step":"captured"', text)
    assert.matches('"RM_OWN_VAR"', text)
    assert.not_matches("its value", text)
    assert.matches('"argv":%["' .. prog:gsub("%p", "%%%0"), text)
    assert.is_true(H.gone(child.pid))
    assert.equal(1, #pids_of(prog))
    -- the plan's data (plan --json) leaves the values out too
    local plan = assert(rm.plan({ files = { prog } }))
    local data = require("restartmanager.policy").data(plan)
    local json = require("restartmanager.json").encode(data)
    assert.matches("RM_OWN_VAR", json)
    assert.not_matches("its value", json)
  end)
end)
