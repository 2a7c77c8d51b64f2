-- Capture and restart of programs that never registered for restart
-- (core.capture, core.restart_captured), with real processes: a copied
-- binary, a set-user-ID copy, a process in another PID namespace, one with
-- a controlling terminal, and a real systemd user manager.
local H = require "spec.helpers"

local SD = require "spec.helpers.systemd"
local core = require "restartmanager.core"

-- The processes whose parent is pid.
local function children_of(pid)
  local out = {}
  for c in (H.read(("/proc/%d/task/%d/children"):format(pid, pid)) or "")
      :gmatch("%d+") do
    out[#out + 1] = tonumber(c)
  end
  return out
end

-- Waits until pid has a child; returns it.
local function child_of(pid)
  return H.wait_for(function() return children_of(pid)[1] end,
    "a child of process " .. pid)
end

local cmdline = H.cmdline

local environ = H.environ

local function field(pid, key)
  return (H.read("/proc/" .. pid .. "/status") or ""):match(key
    .. ":%s*([^\n]*)")
end

-- v as Lua source (strings, numbers, booleans and tables of them).
local function literal(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for k, x in pairs(v) do
    parts[#parts + 1] = "[" .. literal(k) .. "]=" .. literal(x)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- The pids running path with these arguments.
local function instances(path, args)
  local out = {}
  for pid in H.sh("pgrep -x -f " .. H.q(path .. " " .. args)):gmatch("%d+") do
    out[#out + 1] = tonumber(pid)
  end
  return out
end

local wait_exe = H.wait_exe

-- kills the process pid names now (one the spec has just seen)
local kill = H.kill_now

-- the processes to kill at the end (not the spec's children): pid and
-- start time, so that a pid handed to another program is left alone
local function keeper(list)
  return function(pid)
    list[#list + 1] = { pid = pid, start = H.start_time(pid) }
  end
end

describe("capture and restart of an unregistered program #native", function()
  local fx, prog, started, keep

  before_each(function()
    fx = H.scratch()
    prog = fx.dir .. "/copied-sleep"
    H.sh("cp /bin/sleep " .. H.q(prog) .. " && mkdir -p " .. H.q(fx.dir
      .. "/work dir"))
    started = {}
    keep = keeper(started)
  end)

  after_each(function()
    for _, p in ipairs(started) do H.kill(p.pid, p.start) end
    fx.cleanup()
  end)

  -- the copied binary, in "work dir", with a variable of its own, in a
  -- session of its own (no controlling terminal, even when the specs run
  -- on one)
  local function run_prog(seconds, prefix)
    local child = fx.track(H.start(("sh -c %s"):format(H.q(("cd %s && exec "
      .. "setsid env RM_OWN_VAR='value with $ and spaces' %s %s %s 0.5")
      :format(H.q(fx.dir .. "/work dir"), prefix or "", H.q(prog),
        seconds)))))
    if not prefix then wait_exe(child.pid, prog) end
    return child
  end

  it("reads what a restart needs", function()
    local child = run_prog(301)
    local c = assert(core.capture(child.pid))
    local p = assert(core.process(child.pid))
    assert.equal(child.pid, c.pid)
    assert.equal(p.start_time, c.start_time)
    assert.equal(prog, c.executable)
    assert.is_false(c.executable_replaced)
    assert.same({ prog, "301", "0.5" }, c.argv)
    assert.equal(fx.dir .. "/work dir", c.cwd)
    local env = {}
    for _, e in ipairs(c.env) do env[#env + 1] = e end
    assert.truthy(table.concat(env, "\n"):find(
      "RM_OWN_VAR=value with $ and spaces", 1, true))
    local uid = tonumber(H.sh("id -u"):match("%d+"))
    assert.equal(uid, c.uid)
    assert.equal(uid, c.euid)
    assert.equal(tonumber(H.sh("id -g"):match("%d+")), c.gid)
    assert.equal("table", type(c.groups))
    assert.equal(tonumber(H.read("/proc/" .. child.pid .. "/stat")
      :match("^%d+ %b() %a (%d+)")), c.ppid)
    assert.is_false(c.setid)
    assert.is_false(c.other_pid_namespace)
    assert.is_false(c.other_mount_namespace)
    assert.is_false(c.terminal)
    assert.is_false(c.interactive)
    assert.equal(0, c.tty)
  end)

  it("says when the executable was replaced", function()
    local child = run_prog(302)
    H.sh("cp " .. H.q(prog) .. " " .. H.q(prog .. ".new") .. " && mv "
      .. H.q(prog .. ".new") .. " " .. H.q(prog))
    local c = assert(core.capture(child.pid))
    assert.equal(prog, c.executable)
    assert.is_true(c.executable_replaced)
  end)

  it("refuses a process that is gone or a pid that names another", function()
    local child = run_prog(303)
    local p = assert(core.process(child.pid))
    local c, msg, code = core.capture { pid = child.pid,
      start_time = p.start_time + 1 }
    assert.is_nil(c)
    assert.equal(core.error.ERROR_FILE_NOT_FOUND, code)
    assert.matches("another process", msg)
    kill(child.pid)
    c, msg, code = core.capture(child.pid)
    assert.is_nil(c)
    assert.equal(core.error.ERROR_FILE_NOT_FOUND, code)
    assert.matches("ERROR_FILE_NOT_FOUND", msg)
    assert.has_error(function() core.capture(0) end)
    assert.has_error(function() core.capture("x") end)
    assert.has_error(function() core.capture { pid = 1 } end)
  end)

  it("brings the program back as it was, outside the installer", function()
    local child = run_prog(304)
    local c = assert(core.capture(child.pid))
    kill(child.pid)
    -- the installer: another process that restarts it and ends
    local out = H.lua(([[
      local core = require "restartmanager.core"
      assert(core.capture(%d) == nil) -- gone
      local pid, how = assert(core.restart_captured(%s, { manager = false }))
      local self = io.open("/proc/self/stat"):read("l"):match("^(%%d+)")
      print("pid=" .. pid .. " how=" .. how .. " installer=" .. self)
    ]]):format(child.pid, literal(c)))
    local pid = tonumber(out:match("pid=(%d+)"))
    local installer = tonumber(out:match("installer=(%d+)"))
    assert(pid, out)
    keep(pid)
    -- "detached" when the installer is in the root cgroup, "cgroup" when
    -- it sits in one of its own
    assert.matches("how=[dc][eg][tr]", out)
    assert.is_true(H.gone(installer), "the installer ended")
    assert.is_true(H.alive(pid), "the program outlived the installer")
    assert.equal(prog, H.sh("readlink /proc/" .. pid .. "/exe"):gsub("%s+$", ""))
    assert.same({ prog, "304", "0.5" }, cmdline(pid))
    assert.equal(fx.dir .. "/work dir", (H.sh("readlink /proc/" .. pid
      .. "/cwd"):gsub("\n$", "")))
    assert.equal("value with $ and spaces", environ(pid).RM_OWN_VAR)
    assert.equal(tostring(c.uid), field(pid, "Uid"):match("%d+"))
    local ppid = tonumber(H.read("/proc/" .. pid .. "/stat")
      :match("^%d+ %b() %a (%d+)"))
    assert.not_equal(installer, ppid)
    -- its own session: no terminal, no signal of the installer's group
    local sid = tonumber(H.read("/proc/" .. pid .. "/stat")
      :match("^%d+ %b() %a %d+ %d+ (%d+)"))
    assert.not_equal(tonumber(H.read("/proc/self/stat")
      :match("^%d+ %b() %a %d+ %d+ (%d+)")), sid)
  end)

  it("leaves the installer's cgroup: killing it spares the program", function()
    if not H.is_root() then pending("needs root (cgroups)") return end
    local v2 = H.read("/sys/fs/cgroup/cgroup.controllers") and "/sys/fs/cgroup"
      or "/sys/fs/cgroup/unified"
    if not H.read(v2 .. "/cgroup.procs") then
      pending("no cgroup v2 hierarchy") return
    end
    -- the installer runs in a cgroup of its own, as in a systemd unit
    local cg = v2 .. "/rmspec-installer-" .. fx.dir:match("[^/]+$")
    H.sh("mkdir " .. H.q(cg))
    H.finally(finally, function()
      if H.read(cg .. "/cgroup.kill") then H.sh("echo 1 > " .. H.q(cg .. "/cgroup.kill")) end
      H.wait_for(function()
        return not (H.read(cg .. "/cgroup.events") or ""):find("populated 1")
      end, "an empty " .. cg)
      H.sh("rmdir " .. H.q(cg))
      -- the cgroup the program was moved to, once it is empty
      H.sh("rmdir " .. H.q(v2 .. "/restartmanager-restarted") .. " 2>/dev/null")
    end)
    local child = run_prog(314)
    local c = assert(core.capture(child.pid))
    kill(child.pid)
    -- (its standard input is /dev/null: it waits on a fifo nobody writes)
    local hold = fx.dir .. "/hold"
    H.sh("mkfifo " .. H.q(hold))
    local installer = fx.track(H.start(("sh -c %s"):format(H.q(("echo $$ > %s "
      .. "&& exec env %s %s -e %s"):format(H.q(cg .. "/cgroup.procs"),
        H.lua_env(), H.LUA, H.q(([[
      local core = require "restartmanager.core"
      local pid, how = assert(core.restart_captured(%s, { manager = false }))
      print("pid=" .. pid .. " how=" .. how)
      io.stdout:flush()
      io.open(%q):read("l") -- stays, as an installer's unit would, until killed
    ]]):format(literal(c), hold)))))))
    local pid = tonumber(installer.wait_line("pid=(%d+)"))
    keep(pid)
    assert.matches("how=cgroup", installer.output())
    local where = H.read("/proc/" .. pid .. "/cgroup"):match("0::([^\n]*)")
    assert.equal("/restartmanager-restarted", where)
    assert.is_true(installer.alive(), "the installer ended by itself")
    -- what systemd does when the installer's unit ends
    H.sh("echo 1 > " .. H.q(cg .. "/cgroup.kill"))
    assert.is_true(H.gone(installer.pid), "the installer was killed")
    assert.is_true(H.alive(pid), "the program outlived the installer's cgroup")
    assert.same({ prog, "314", "0.5" }, cmdline(pid))
  end)

  it("starts nothing when the program runs again", function()
    local child = run_prog(305)
    local c = assert(core.capture(child.pid))
    -- not stopped after all: it is running
    local pid, how = assert(core.restart_captured(c))
    assert.equal("running", how)
    assert.equal(child.pid, pid)
    kill(child.pid)
    -- another instance with the same command line came back meanwhile
    local again = run_prog(305)
    pid, how = assert(core.restart_captured(c))
    assert.equal("running", how)
    assert.equal(again.pid, pid)
    assert.same({ again.pid }, instances(prog, "305 0.5"))
  end)

  it("never restarts a set-user-ID executable", function()
    H.sh("chmod u+s " .. H.q(prog))
    local child = run_prog(306)
    local c = assert(core.capture(child.pid))
    assert.is_true(c.setid)
    kill(child.pid)
    local pid, msg, code = core.restart_captured(c)
    assert.is_nil(pid)
    assert.equal(core.error.ERROR_ACCESS_DENIED, code)
    assert.matches("set%-user%-ID", msg)
    -- nor when only the file on disk has become one since
    H.sh("chmod u-s " .. H.q(prog))
    child = run_prog(307)
    c = assert(core.capture(child.pid))
    assert.is_false(c.setid)
    kill(child.pid)
    H.sh("chmod g+s " .. H.q(prog))
    pid, msg, code = core.restart_captured(c)
    assert.is_nil(pid)
    assert.equal(core.error.ERROR_ACCESS_DENIED, code)
    assert.matches("now set%-user%-ID or set%-group%-ID", msg)
    assert.same({}, instances(prog, "307 0.5"))
  end)

  it("never restarts a process of another PID namespace", function()
    if not H.is_root() then pending("needs root (unshare)") return end
    local outer = run_prog(308, "unshare --pid --fork --mount-proc")
    local inner = wait_exe(child_of(outer.pid), prog)
    keep(inner)
    local c = assert(core.capture(inner))
    assert.is_true(c.other_pid_namespace)
    assert.is_true(c.other_mount_namespace)
    kill(inner)
    local pid, msg, code = core.restart_captured(c)
    assert.is_nil(pid)
    assert.equal(core.error.ERROR_ACCESS_DENIED, code)
    assert.matches("another PID or mount namespace", msg)
  end)

  it("never restarts a process with a controlling terminal", function()
    -- script(1) gives the program a pseudo-terminal as its terminal
    -- exec: script(1) runs the command through $SHELL or sh, and dash
    -- forks for it rather than replacing itself
    local outer = fx.track(H.start("script -qfec " .. H.q("exec " .. H.q(prog)
      .. " 309") .. " /dev/null"))
    local inner = wait_exe(child_of(outer.pid), prog)
    keep(inner)
    local c = assert(core.capture(inner))
    assert.is_true(c.terminal)
    assert.is_true(c.interactive)
    assert.not_equal(0, c.tty)
    kill(inner)
    local pid, msg, code = core.restart_captured(c)
    assert.is_nil(pid)
    assert.equal(core.error.ERROR_ACCESS_DENIED, code)
    assert.matches("controlling terminal", msg)
  end)

  it("restarts another user's program as that user, with its groups", function()
    local nobody = H.as_nobody()
    if not nobody then pending("needs root") return end
    local child = fx.track(H.start(("setpriv --reuid=nobody --regid=nogroup "
      .. "--groups=nogroup,users sh -c %s"):format(H.q(("cd %s && exec setsid env "
      .. "RM_OWN_VAR=mine %s 310"):format(H.q(fx.dir .. "/work dir"),
        H.q(prog))))))
    wait_exe(child.pid, prog)
    local c = assert(core.capture(child.pid))
    kill(child.pid)
    local pid = assert(core.restart_captured(c, { manager = false }))
    keep(pid)
    local nob = H.sh("id -u nobody"):match("%d+")
    assert.equal(nob, field(pid, "Uid"):match("%d+"))
    assert.same({ nob, nob, nob, nob },
      { field(pid, "Uid"):match("(%d+)%s+(%d+)%s+(%d+)%s+(%d+)") })
    assert.equal(H.sh("getent group nogroup"):match("^[^:]*:[^:]*:(%d+)"),
      field(pid, "Gid"):match("%d+"))
    local groups = {}
    for g in field(pid, "Groups"):gmatch("%d+") do groups[#groups + 1] = g end
    table.sort(groups)
    local want = { H.sh("getent group nogroup"):match("^[^:]*:[^:]*:(%d+)"),
      H.sh("getent group users"):match("^[^:]*:[^:]*:(%d+)") }
    table.sort(want)
    assert.same(want, groups)
    assert.equal("mine", environ(pid).RM_OWN_VAR)
  end)

  it("checks what it is given", function()
    local child = run_prog(311)
    local c = assert(core.capture(child.pid))
    for _, k in ipairs { "executable", "cwd", "argv", "env", "uid", "gid",
      "groups" } do
      local bad = {}
      for kk, v in pairs(c) do bad[kk] = v end
      bad[k] = nil
      assert.has_error(function() core.restart_captured(bad) end)
    end
    local bad = {}
    for kk, v in pairs(c) do bad[kk] = v end
    bad.env = { "NOEQUALS" }
    assert.has_error(function() core.restart_captured(bad) end)
    bad.env, bad.argv = c.env, {}
    assert.has_error(function() core.restart_captured(bad) end)
    bad.argv, bad.executable = c.argv, "relative/path"
    local pid, _, code = core.restart_captured(bad)
    assert.is_nil(pid)
    assert.equal(core.error.ERROR_FILE_NOT_FOUND, code)
    assert.has_error(function() core.restart_captured(c, { name = 1 }) end)
  end)
end)

describe("restart in the user's systemd manager #native #systemd", function()
  local fx, mgr, prog, started, keep

  before_each(function()
    fx = H.scratch()
    prog = fx.dir .. "/copied-sleep"
    H.sh("cp /bin/sleep " .. H.q(prog))
    started = {}
    keep = keeper(started)
    mgr = nil
  end)

  after_each(function()
    for _, p in ipairs(started) do H.kill(p.pid, p.start) end
    if mgr then
      H.sh(H.q(H.ROOT .. "/spec/helpers/user_manager.sh") .. " stop "
        .. H.q(mgr))
    end
    fx.cleanup()
  end)

  local function start_manager()
    if not H.is_root() then return nil, "needs root" end
    if H.sh("command -v systemd >/dev/null || test -x /lib/systemd/systemd; echo $?")
        :match("%d+") ~= "0" or not H.sh("command -v systemd-run"):match("/") then
      return nil, "systemd is not installed"
    end
    mgr = H.tmpdir()
    local out, rc = H.sh(H.q(H.ROOT .. "/spec/helpers/user_manager.sh")
      .. " start " .. H.q(mgr) .. " 2>&1")
    assert.equal(0, rc, out)
    return mgr .. "/run"
  end

  it("starts a transient service there, which outlives the installer", function()
    local run, why = start_manager()
    if not run then pending(why) return end
    local child = fx.track(H.start(("sh -c %s"):format(H.q(("cd %s && exec "
      .. "setsid env XDG_RUNTIME_DIR=%s RM_OWN_VAR=kept %s 312 0.25"):format(
        H.q(fx.dir), H.q(run), H.q(prog))))))
    wait_exe(child.pid, prog)
    local c = assert(core.capture(child.pid))
    kill(child.pid)
    local out = H.lua(([[
      local core = require "restartmanager.core"
      local pid, how, note = core.restart_captured(%s)
      print("pid=" .. tostring(pid) .. " how=" .. tostring(how) .. " "
        .. tostring(note))
    ]]):format(literal(c)))
    local pid = tonumber(out:match("pid=(%d+)"))
    assert(pid and pid > 0, out)
    keep(pid)
    assert.matches("how=user_manager", out)
    local cg = H.read("/proc/" .. pid .. "/cgroup"):match("0::([^\n]*)")
    assert.matches("/rmspec%-[^/]+/.*restartmanager%-copied%-sleep%-.*%.service$",
      cg)
    assert.is_true(H.alive(pid))
    assert.same({ prog, "312", "0.25" }, cmdline(pid))
    assert.equal("kept", environ(pid).RM_OWN_VAR)
    assert.equal(fx.dir, (H.sh("readlink /proc/" .. pid .. "/cwd")
      :gsub("\n$", "")))
  end)

  it("starts a program's own service unit again, through systemctl", function()
    local run, why = start_manager()
    if not run then pending(why) return end
    H.write(mgr .. "/units/rmspec-prog.service", ("[Service]\nExecStart=%s 315\n")
      :format(prog))
    local env = "env XDG_RUNTIME_DIR=" .. H.q(run) .. " "
    local out, rc = H.sh(env .. "systemctl --user start rmspec-prog.service 2>&1")
    assert.equal(0, rc, out)
    local main = tonumber(H.sh(env .. "systemctl --user show -p MainPID --value "
      .. "rmspec-prog.service"):match("%d+"))
    assert(main and main > 0)
    local c = assert(core.capture(wait_exe(main, prog)))
    assert.equal("rmspec-prog.service", c.unit)
    kill(main)
    -- stopped from outside (Restart=no): the unit is down
    -- (killed: "failed")
    H.wait_for(function()
      local state = H.sh(env .. "systemctl --user is-active rmspec-prog.service")
      return state:match("^inactive") or state:match("^failed")
    end, "rmspec-prog.service to be down")
    local pid, how = assert(core.restart_captured(c, { via = "unit" }))
    assert.equal("unit", how)
    assert.not_equal(main, pid)
    keep(pid)
    assert.is_true(H.alive(pid))
    assert.same({ prog, "315" }, cmdline(pid))
    assert.matches("active", H.sh(env .. "systemctl --user is-active rmspec-prog.service"))
    -- running again: nothing more is started
    local again, how2 = assert(core.restart_captured(c, { via = "unit" }))
    assert.equal("running", how2)
    assert.equal(pid, again)
    assert.equal(pid, core.running_again(c))
  end)

  it("knows the unit and desktop application id of a program", function()
    local run, why = start_manager()
    if not run then pending(why) return end
    local child = fx.track(H.start(("env XDG_RUNTIME_DIR=%s systemd-run "
      .. "--user --scope --quiet --unit=%s %s 313"):format(H.q(run),
        H.q("app-spec-org.example.Some\\x2dApp-4242.scope"), H.q(prog))))
    local c = assert(core.capture(wait_exe(child.pid, prog)))
    assert.equal(prog, c.executable)
    assert.equal("app-spec-org.example.Some\\x2dApp-4242.scope", c.unit)
    -- a user's manager runs it (found through its init.scope: this one
    -- runs outside any user@UID.service)
    assert.is_true(c.user_unit)
    assert.equal("org.example.Some-App", c.app_id)
  end)
end)

describe("an installer that runs as a systemd unit #native #systemd", function()
  local fx, m, prog

  before_each(function()
    fx = H.scratch()
    prog = fx.dir .. "/copied-sleep"
    H.sh("cp /bin/sleep " .. H.q(prog))
    m = nil
  end)

  after_each(function()
    if m then m.stop() end
    fx.cleanup()
  end)

  it("leaves the restarted program running when its unit ends", function()
    local why = SD.unavailable()
    if why then pending(why) return end
    -- the installer: a oneshot service that updates and ends; systemd then
    -- kills whatever is left in its cgroup
    local result = fx.dir .. "/installer.out"
    H.write(fx.dir .. "/installer.lua", ([[
      local rm = require "restartmanager"
      local ok, res, code, partial = rm.update({ files = { %q } },
        function() end, { restart_unregistered = true })
      local plan = ok and res or partial or { apps = {} }
      local f = assert(io.open(%q, "w"))
      f:write("ok=", tostring(ok), " ", tostring(not ok and res or ""), " ",
        tostring(code), "\n")
      for _, e in ipairs(plan.apps) do
        f:write(("pid=%%d outcome=%%s new=%%s how=%%s\n"):format(e.pid,
          tostring(e.restart_outcome), tostring(e.restarted_pid),
          tostring(e.restarted_how)))
      end
      f:close()
    ]]):format(prog, result))
    m = SD.start { bind = { fx.dir }, units = {
      ["spec-installer.service"] = ([[
[Service]
Type=oneshot
Environment="LUA_PATH=%s/lua/?.lua;%s/lua/?/init.lua;;" "LUA_CPATH=%s/?.so;;"
ExecStart=%s %s/installer.lua
]]):format(H.ROOT, H.ROOT, H.BUILD, H.sh("command -v " .. H.LUA):match("%S+"),
        fx.dir) } }
    -- the program, in a scope of its own (no service to restart it by)
    fx.track(m.spawn("systemd-run --scope --quiet --unit=spec-program.scope "
      .. H.q(prog) .. " 316 0.5"))
    local pid = H.wait_for(function()
      return m.sh("pgrep -x -f " .. H.q(prog .. " 316 0.5")):match("%d+")
    end, "the program to start in the container")
    local out, rc = m.systemctl("start spec-installer.service")
    local text = H.read(result) or ""
    assert.equal(0, rc, out .. text)
    assert.matches("ok=true", text)
    local new = text:match("pid=" .. pid .. " outcome=restarted new=(%d+) how=cgroup")
    assert(new, text)
    -- the installer's unit has ended, and took its cgroup's processes along
    assert.matches("inactive", (m.systemctl("is-active spec-installer.service")))
    out = m.sh("cat /proc/" .. new .. "/cmdline /proc/" .. new .. "/cgroup")
    assert.matches(prog:gsub("%p", "%%%0") .. "%z316%z0%.5%z", out)
    assert.matches("0::/system.slice/restartmanager%-restarted\n", out)
  end)
end)
