-- Services through a real systemd (tag systemd): each test boots a system
-- manager as PID 1 of its own namespaces (spec/helpers/systemd.sh), which
-- sees only the units written here, and runs the installer's Lua code inside
-- it, where the units' processes are. The services are
-- spec/helpers/unitd.c: each keeps its file open, records the first line
-- of that file (its version) and its pid, and tells systemd when it is
-- ready, so a finished start job means it runs.
local H = require "spec.helpers"
local SD = require "spec.helpers.systemd"

local NOBODY = 65534

-- What the installer's code inside can use: rm, sh, state(unit),
-- user_state(unit) (in nobody's manager), replace(path, text) (a new file
-- renamed over the old one, as installers do), say(key, value) (a line of
-- the report), ask(path) (connects to a socket: the answer or "refused"),
-- main_pid(unit).
local PRELUDE = [[
local rm = require "restartmanager"
local function sh(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local s = f:read("a")
  f:close()
  return (s:gsub("%s+$", ""))
end
local function state(unit) return sh("systemctl is-active " .. unit) end
local function user_state(unit)
  return sh("setpriv --reuid NOBODY --regid NOBODY --clear-groups env "
    .. "XDG_RUNTIME_DIR=/run/user/NOBODY systemctl --user is-active " .. unit)
end
local function main_pid(unit)
  return sh("systemctl show -p MainPID --value " .. unit)
end
local function replace(path, text)
  local f = assert(io.open(path .. ".new", "w"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".new", path))
end
local function say(k, v) print(k .. "=" .. tostring(v)) end
local function ask(path) return sh("UNITD connect " .. path) end
]]

local function unit(lines)
  return table.concat(lines, "\n") .. "\n"
end

describe("services through a real systemd #systemd", function()
  local why = SD.unavailable()
  if why then
    pending("a real systemd cannot run here: " .. why)
    return
  end

  local m

  -- Boots a manager with units (built by fn(dir) -> units, user_units).
  local function boot(units_of, user)
    -- the units name files in the test's directory, which exists only once
    -- the manager is up: they use @DIR@, written in now
    local units, user_units = units_of()
    m = SD.start { units = units, user = user, user_units = user_units }
    H.sh("cd " .. H.q(m.dir) .. " && sed -i 's|@DIR@|" .. m.dir
      .. "|g' units/*.service units/*.socket user-units/*.service 2>/dev/null")
    local _, rc = m.systemctl("daemon-reload")
    assert.equal(0, rc)
    if user then assert.equal(0, (select(2, m.user_systemctl("daemon-reload")))) end
    return m
  end

  -- Runs the installer's code inside; its report as a table.
  local function inside(code, opts)
    local src = (PRELUDE .. "local DIR = " .. ("%q"):format(m.dir) .. "\n" .. code)
      :gsub("NOBODY", tostring(NOBODY)):gsub("UNITD", SD.UNITD)
    local out, rc = m.lua(src, opts)
    assert.equal(0, rc, out)
    return SD.report(out), out
  end

  local function file(name, text, mode)
    H.write(m.dir .. "/" .. name, text)
    H.sh("chmod " .. (mode or "644") .. " " .. H.q(m.dir .. "/" .. name))
  end

  -- the versions and pids a service recorded, in order
  local function runs(report)
    local t = {}
    for v, pid in (H.read(m.dir .. "/" .. report) or ""):gmatch("(%S+) (%d+)\n") do
      t[#t + 1] = { version = v, pid = tonumber(pid) }
    end
    return t
  end

  local function service(extra)
    local lines = { "[Service]", "Type=notify",
      "ExecStart=" .. SD.UNITD .. " @DIR@/" .. extra.file .. " @DIR@/"
        .. extra.file .. ".runs" }
    for _, l in ipairs(extra) do lines[#lines + 1] = l end
    return unit(lines)
  end

  after_each(function()
    if m then
      local cg = m.cgroup
      m.stop()
      -- nothing left: no cgroup, no directory, no manager
      assert.is_nil(io.open(cg .. "/cgroup.procs", "r"), "its cgroup is left")
      assert.is_nil(io.open(m.dir .. "/units", "r"), "its directory is left")
      assert.is_false(H.alive(m.pid), "its systemd still runs")
      m = nil
    end
  end)

  it("stops a Restart=always service for the update and starts it on the new file",
    function()
      boot(function()
        return { ["keep.service"] = service { file = "keep.txt", "Restart=always",
          "RestartSec=0" } }
      end)
      file("keep.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start keep.service"))))
      local r = inside [[
        local apps = rm.who_uses { DIR .. "/keep.txt" }
        say("type", apps[1].type)
        say("service", apps[1].service)
        say("systemd", apps[1].systemd)
        say("restartable", apps[1].restartable)
        local ok, msg = rm.update({ files = { DIR .. "/keep.txt" } }, function()
          say("during", state("keep.service"))
          replace(DIR .. "/keep.txt", "v2\n")
          say("still", state("keep.service"))
        end)
        say("ok", ok)
        say("msg", msg)
        say("after", state("keep.service"))
        say("pid", main_pid("keep.service"))
      ]]
      assert.equal("service", r.type)
      assert.equal("keep.service", r.service)
      assert.equal("true", r.systemd)
      assert.equal("true", r.restartable, "systemd can start it")
      assert.equal("inactive", r.during)
      assert.equal("inactive", r.still, "systemd restarted it mid-update")
      assert.equal("true", r.ok, r.msg)
      assert.equal("active", r.after)
      local seen = runs("keep.txt.runs")
      assert.equal(2, #seen, "it ran more than twice: restarted behind our back")
      assert.equal("v1", seen[1].version)
      assert.equal("v2", seen[2].version)
      assert.equal(tonumber(r.pid), seen[2].pid)
    end)

  it("brings a Restart=no service back after the update", function()
    boot(function()
      return { ["plain.service"] = service { file = "plain.txt", "Restart=no" } }
    end)
    file("plain.txt", "v1\n")
    assert.equal(0, (select(2, m.systemctl("start plain.service"))))
    local r = inside [[
      local ok, msg = rm.update({ files = { DIR .. "/plain.txt" } }, function()
        say("during", state("plain.service"))
        replace(DIR .. "/plain.txt", "v2\n")
      end)
      say("ok", ok)
      say("msg", msg)
      say("after", state("plain.service"))
    ]]
    assert.equal("inactive", r.during)
    assert.equal("true", r.ok, r.msg)
    assert.equal("active", r.after)
    local seen = runs("plain.txt.runs")
    assert.equal(2, #seen)
    assert.equal("v2", seen[2].version)
  end)

  -- A primary that registers name (a file of the test's directory), stops
  -- what uses it and is killed with SIGKILL before it can restart anything.
  local function die_after_stop(name)
    local out = m.lua(([[
      local core = require "restartmanager.core"
      local me = io.open("/proc/self/stat"):read("l"):match("^%%d+")
      local s = assert(core.start_session())
      assert(s:register_resources({ %q }))
      s:shutdown(0, function(p)
        if p == 100 then os.execute("kill -KILL " .. me) end
      end, 30000)
      print("not killed")
    ]]):format(m.dir .. "/" .. name))
    assert.not_matches("not killed", out)
  end

  it("records the services a shutdown stopped: a primary that dies leaves them to the recovery",
    function()
      boot(function()
        return { ["plain.service"] = service { file = "plain.txt", "Restart=no" } }
      end)
      file("plain.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start plain.service"))))
      -- the primary stops the service and is killed before its restart
      die_after_stop("plain.txt")
      local r = inside [[
        say("before", state("plain.service"))
        local done = assert(rm.recover())
        say("n", #done)
        say("service", done[1] and done[1].service)
        say("started", done[1] and done[1].started)
        say("after", state("plain.service"))
        say("again", #assert(rm.recover()))
      ]]
      assert.equal("inactive", r.before, "the shutdown did not stop it")
      assert.equal("1", r.n)
      assert.equal("plain.service", r.service)
      assert.equal("true", r.started)
      assert.equal("active", r.after)
      assert.equal("0", r.again)
      assert.equal(2, #runs("plain.txt.runs"))
    end)

  -- A manager with web.socket listening and its web.service (which serves
  -- web.txt, "v1") not yet started.
  local function boot_web()
    boot(function()
      return {
        ["web.socket"] = unit { "[Socket]", "ListenStream=@DIR@/web.sock" },
        ["web.service"] = service { file = "web.txt" },
      }
    end)
    file("web.txt", "v1\n")
    assert.equal(0, (select(2, m.systemctl("start web.socket"))))
  end

  it("records the socket stopped with a service: the recovery starts both",
    function()
      boot_web()
      local r = inside [[
        say("first", ask(DIR .. "/web.sock"))  -- activates it
      ]]
      assert.equal("v1", r.first)
      die_after_stop("web.txt")
      r = inside [[
        say("socket_before", state("web.socket"))
        local done = assert(rm.recover())
        say("n", #done)
        say("service", done[1] and done[1].service)
        say("started", done[1] and done[1].started)
        say("socket_after", state("web.socket"))
        say("after", state("web.service"))
        say("answer", ask(DIR .. "/web.sock"))
      ]]
      assert.equal("inactive", r.socket_before, "the socket was not stopped")
      assert.equal("1", r.n)
      assert.equal("web.service", r.service)
      assert.equal("true", r.started)
      assert.equal("active", r.socket_after)
      assert.equal("active", r.after)
      assert.equal("v1", r.answer)
    end)

  it("stops a service that exits 143 on SIGTERM without a restart or a failure left",
    function()
      boot(function()
        return { ["jvm.service"] = service { file = "jvm.txt", "Restart=on-failure",
          "RestartSec=0" }:gsub("(%.runs)\n", "%1 trap\n") }
      end)
      file("jvm.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start jvm.service"))))
      local r = inside [[
        local ok, msg = rm.update({ files = { DIR .. "/jvm.txt" } }, function()
          say("during", state("jvm.service"))
          replace(DIR .. "/jvm.txt", "v2\n")
        end)
        say("ok", ok)
        say("msg", msg)
        say("after", state("jvm.service"))
      ]]
      assert.are_not.equal("active", r.during)
      assert.are_not.equal("activating", r.during, "systemd restarted it mid-update")
      assert.equal("true", r.ok, r.msg)
      assert.equal("active", r.after)
      local seen = runs("jvm.txt.runs")
      assert.equal(2, #seen)
      assert.equal("v2", seen[2].version)
    end)

  it("keeps a socket-activated service down mid-update; its socket works afterwards",
    function()
      boot_web()
      local r = inside [[
        say("first", ask(DIR .. "/web.sock"))  -- activates it
        say("before", state("web.service"))
        local ok, msg = rm.update({ files = { DIR .. "/web.txt" } }, function()
          say("knock", ask(DIR .. "/web.sock"))
          say("during", state("web.service"))
          say("socket_during", state("web.socket"))
          replace(DIR .. "/web.txt", "v2\n")
        end)
        say("ok", ok)
        say("msg", msg)
        say("socket_after", state("web.socket"))
        say("answer", ask(DIR .. "/web.sock"))
        say("after", state("web.service"))
      ]]
      assert.equal("v1", r.first)
      assert.equal("active", r.before)
      assert.equal("refused", r.knock, "the socket still listened mid-update")
      assert.equal("inactive", r.during, "a connection woke the service mid-update")
      assert.equal("inactive", r.socket_during)
      assert.equal("true", r.ok, r.msg)
      assert.equal("active", r.socket_after)
      assert.equal("v2", r.answer)
      assert.equal("active", r.after)
      assert.equal(2, #runs("web.txt.runs"))
    end)

  it("refuses to stop a unit with RefuseManualStop=yes: a reboot reason, nothing stopped",
    function()
      boot(function()
        return {
          ["crit.service"] = service { file = "crit.txt" }
            :gsub("%[Service%]", "[Unit]\nRefuseManualStop=yes\n[Service]"),
          ["other.service"] = service { file = "crit.txt", "Restart=no" }
            :gsub("crit%.txt%.runs", "other.runs"),
        }
      end)
      file("crit.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start crit.service other.service"))))
      local r = inside [[
        local core = require "restartmanager.core"
        local apps, reasons = rm.who_uses { DIR .. "/crit.txt" }
        for _, a in ipairs(apps) do say("type_" .. a.service:gsub("%.service", ""), a.type) end
        say("reason", reasons.critical_service)
        local pid = main_pid("crit.service")
        local called = false
        local ok, msg, code = rm.update({ files = { DIR .. "/crit.txt" } }, function()
          called = true
        end)
        say("ok", ok)
        say("msg", msg)
        say("code", code)
        say("called", called)
        -- the core refuses too, before anything is stopped
        local s = core.start_session()
        s:register_resources({ DIR .. "/crit.txt" })
        local _, _, scode = s:shutdown(0)
        s:end_session()
        say("core_code", scode)
        say("after", state("crit.service"))
        say("other", state("other.service"))
        say("same", main_pid("crit.service") == pid)
      ]]
      assert.equal("critical", r.type_crit)
      assert.equal("service", r.type_other)
      assert.equal("true", r.reason)
      assert.equal("nil", r.ok)
      assert.equal("350", r.code, r.msg)
      assert.equal("false", r.called)
      assert.equal("350", r.core_code)
      assert.equal("active", r.after)
      assert.equal("active", r.other, "something was stopped")
      assert.equal("true", r.same)
      assert.equal(1, #runs("other.runs"))
    end)

  it("kills a service that does not stop through systemd with force, which does not restart it",
    function()
      boot(function()
        -- SIGCONT stops nothing: the stop job waits (TimeoutStopSec) until
        -- systemd is told to kill it
        return { ["stubborn.service"] = service { file = "stub.txt",
          "Restart=always", "RestartSec=0", "KillSignal=SIGCONT",
          "TimeoutStopSec=60" } }
      end)
      file("stub.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start stubborn.service"))))
      local r = inside [[
        local pid = tonumber(main_pid("stubborn.service"))
        local t0 = os.time()
        local ok, msg = rm.update({ files = { DIR .. "/stub.txt" } }, function()
          say("during", state("stubborn.service"))
          say("old_gone", io.open("/proc/" .. pid .. "/stat") == nil)
          replace(DIR .. "/stub.txt", "v2\n")
        end, { timeout = 1, force = true })
        say("ok", ok)
        say("msg", msg)
        say("quick", os.time() - t0 < 30)
        say("after", state("stubborn.service"))
      ]]
      assert.are_not.equal("active", r.during)
      assert.equal("true", r.old_gone)
      assert.equal("true", r.ok, r.msg)
      assert.equal("true", r.quick)
      assert.equal("active", r.after)
      local seen = runs("stub.txt.runs")
      assert.equal(2, #seen)
      assert.equal("v2", seen[2].version)
    end)

  it("stops applications before services", function()
    boot(function()
      return { ["late.service"] = service { file = "shared.txt", "Restart=no",
        -- what the service sees of the application when it is stopped
        "ExecStop=/bin/sh -c 'if test -e @DIR@/app.stamp; then echo after; "
          .. "else echo before; fi > @DIR@/order'" } }
    end)
    file("shared.txt", "v1\n")
    assert.equal(0, (select(2, m.systemctl("start late.service"))))
    local r = inside((([[
      -- an application (in no unit) that uses the same file; it writes its
      -- stamp when it gets SIGTERM
      local app = io.popen(HOLDER .. " stamp " .. DIR .. "/app.stamp open "
        .. DIR .. "/shared.txt")
      say("app", app:read("l"))
      local apps = rm.who_uses { DIR .. "/shared.txt" }
      for _, a in ipairs(apps) do say("t_" .. a.name, a.type) end
      local ok, msg = rm.update({ files = { DIR .. "/shared.txt" } }, function() end)
      say("ok", ok)
      say("msg", msg)
      app:close()
    ]]):gsub("HOLDER", H.q(H.BUILD .. "/helpers/holder"))))
    assert.truthy(r.app:match("^ready"))
    assert.equal("service", r.t_unitd)
    assert.are_not.equal("service", r.t_holder)
    assert.equal("true", r.ok, r.msg)
    assert.equal("after", (H.read(m.dir .. "/order") or ""):match("%a+"),
      "the service was stopped before the application")
  end)

  it("restarts services before applications", function()
    boot(function()
      return { ["early.service"] = service { file = "shared.txt", "Restart=no",
        -- whether the application runs again when the service starts (its
        -- restart returns once the program was executed)
        "ExecStartPre=/bin/sh -c 'if pgrep -f \"helpers/app[.]lua /\" >/dev/null; "
          .. "then echo app-first; else echo service-first; fi >> @DIR@/order'" } }
    end)
    file("shared.txt", "v1\n")
    H.sh("mkfifo " .. H.q(m.dir .. "/fifo"))
    assert.equal(0, (select(2, m.systemctl("start early.service"))))
    local r = inside((([[
      -- a registered application that uses the same file; it records each
      -- start in app.state and blocks on the fifo
      os.execute(("LUA APP %s/app.state %s/shared.txt %s/fifo >/dev/null 2>&1 &")
        :format(DIR, DIR, DIR))
      local function starts()
        local f = io.open(DIR .. "/app.state")
        local n = 0
        if f then
          for _ in f:lines() do n = n + 1 end
          f:close()
        end
        return n
      end
      local deadline = os.time() + 60
      while starts() < 1 and os.time() < deadline do os.execute("sleep 0.02") end
      local ok, msg = rm.update({ files = { DIR .. "/shared.txt" } }, function() end)
      say("ok", ok)
      say("msg", msg)
      deadline = os.time() + 60
      while starts() < 2 and os.time() < deadline do os.execute("sleep 0.02") end
      say("starts", starts())
    ]]):gsub("LUA", H.LUA):gsub("APP", H.ROOT .. "/spec/helpers/app.lua")))
    assert.equal("true", r.ok, r.msg)
    assert.equal("2", r.starts, "the application was not restarted")
    local order = {}
    for l in (H.read(m.dir .. "/order") or ""):gmatch("%S+") do order[#order + 1] = l end
    assert.same({ "service-first", "service-first" }, order)
  end)

  it("names services by unit: \"keep\" is keep.service, user:UID:NAME a user's unit",
    function()
      boot(function()
        return { ["keep.service"] = service { file = "a.txt" } },
          { ["mine.service"] = service { file = "b.txt" } }
      end, NOBODY)
      file("a.txt", "v1\n")
      file("b.txt", "v1\n")
      file("b.txt.runs", "", "666")
      assert.equal(0, (select(2, m.systemctl("start keep.service"))))
      assert.equal(0, (select(2, m.user_systemctl("start mine.service"))))
      local r = inside [[
        local function names(services)
          local s = assert(rm.start())
          assert(s:register { services = services })
          local apps = assert(s:list())
          local t = {}
          for _, a in ipairs(apps) do t[#t + 1] = a.service end
          table.sort(t)
          s:close()
          return table.concat(t, ",")
        end
        say("short", names { "keep" })
        say("long", names { "keep.service" })
        say("user", names { "user:NOBODY:mine" })
        say("byname", names { "user:nobody:mine.service" })
        say("wrong_manager", names { "mine", "user:0:keep" })
      ]]
      assert.equal("keep.service", r.short)
      assert.equal("keep.service", r.long)
      assert.equal("user:65534:mine.service", r.user)
      assert.equal("user:65534:mine.service", r.byname)
      assert.equal("", r.wrong_manager)
    end)

  it("stops and starts a user unit in its user's manager from a root installer",
    function()
      boot(function()
        return {}, { ["mine.service"] = service { file = "u.txt", "Restart=always",
          "RestartSec=0" } }
      end, NOBODY)
      file("u.txt", "v1\n")
      file("u.txt.runs", "", "666")
      assert.equal(0, (select(2, m.user_systemctl("start mine.service"))))
      local r = inside [[
        local apps = rm.who_uses { DIR .. "/u.txt" }
        say("service", apps[1].service)
        say("systemd", apps[1].systemd)
        local ok, msg = rm.update({ files = { DIR .. "/u.txt" } }, function()
          say("during", user_state("mine.service"))
          replace(DIR .. "/u.txt", "v2\n")
          os.execute("chmod 644 " .. DIR .. "/u.txt")
        end)
        say("ok", ok)
        say("msg", msg)
        say("after", user_state("mine.service"))
        say("uid", sh("ps -o uid= -p " .. sh("pgrep -n -u NOBODY -x unitd")))
      ]]
      assert.equal("user:65534:mine.service", r.service)
      assert.equal("true", r.systemd)
      assert.equal("inactive", r.during)
      assert.equal("true", r.ok, r.msg)
      assert.equal("active", r.after)
      assert.equal(tostring(NOBODY), r.uid)
      local seen = runs("u.txt.runs")
      assert.equal(2, #seen)
      assert.equal("v2", seen[2].version)
    end)

  it("lets a user stop and start its own unit in its own manager", function()
    boot(function()
      return {}, { ["mine.service"] = service { file = "own.txt", "Restart=always",
        "RestartSec=0" } }
    end, NOBODY)
    file("own.txt", "v1\n")
    file("own.txt.runs", "", "666")
    assert.equal(0, (select(2, m.user_systemctl("start mine.service"))))
    -- the installer runs as that user, with the user's own runtime directory
    local src = (PRELUDE .. "local DIR = " .. ("%q"):format(m.dir) .. "\n" .. [[
      local apps = rm.who_uses { DIR .. "/own.txt" }
      say("type", apps[1] and apps[1].type)
      say("service", apps[1] and apps[1].service)
      say("systemd", apps[1] and apps[1].systemd)
      -- as that user it cannot look into root's processes (the manager's)
      local ok, msg = rm.update({ files = { DIR .. "/own.txt" } }, function()
        say("during", sh("systemctl --user is-active mine.service"))
      end, { allow_uninspected = true })
      say("ok", ok)
      say("msg", msg)
      say("after", sh("systemctl --user is-active mine.service"))
    ]]):gsub("NOBODY", tostring(NOBODY)):gsub("UNITD", SD.UNITD)
    local out, rc = m.sh("setpriv --reuid " .. NOBODY .. " --regid " .. NOBODY
      .. " --clear-groups env " .. H.lua_env() .. " XDG_RUNTIME_DIR=/run/user/"
      .. NOBODY .. " " .. H.LUA .. " -e " .. H.q(src))
    assert.equal(0, rc, out)
    local r = SD.report(out)
    assert.equal("service", r.type)
    assert.equal("user:65534:mine.service", r.service)
    assert.equal("true", r.systemd)
    assert.equal("inactive", r.during, out)
    assert.equal("true", r.ok, r.msg)
    assert.equal("active", r.after)
    assert.equal(2, #runs("own.txt.runs"))
  end)

  it("lists a desktop's app-*.scope and app-*.service processes as applications",
    function()
      boot(function()
        return {}, {
          -- a desktop starts what the user launches in a scope of its own
          ["desktop.service"] = unit { "[Service]",
            "ExecStart=/usr/bin/systemd-run --user --scope --unit=app-spec-viewer-1.scope "
              .. SD.UNITD .. " @DIR@/doc.txt @DIR@/viewer.runs" },
          ["app-spec-editor@1.service"] = unit { "[Service]", "Type=notify",
            "ExecStart=" .. SD.UNITD .. " @DIR@/doc.txt @DIR@/editor.runs" },
          ["daemon.service"] = unit { "[Service]", "Type=notify",
            "ExecStart=" .. SD.UNITD .. " @DIR@/doc.txt @DIR@/daemon.runs" },
        }
      end, NOBODY)
      file("doc.txt", "v1\n")
      for _, f in ipairs { "viewer.runs", "editor.runs", "daemon.runs" } do
        file(f, "", "666")
      end
      assert.equal(0, (select(2, m.user_systemctl(
        "start desktop.service app-spec-editor@1.service daemon.service"))))
      -- the scope's process records itself once it runs
      local deadline = os.time() + 60
      while #runs("viewer.runs") == 0 and os.time() < deadline do H.sh("sleep 0.05") end
      local viewer = runs("viewer.runs")[1]
      assert.truthy(viewer, "the launched application did not start")
      local r = inside((([[
        local apps = rm.who_uses { DIR .. "/doc.txt" }
        for _, a in ipairs(apps) do
          local who = a.pid == VIEWER and "viewer"
            or a.pid == EDITOR and "editor" or "daemon"
          say(who .. "_type", a.type)
          say(who .. "_service", a.service)
        end
        say("cgroup", sh("tail -n 1 /proc/VIEWER/cgroup"))
      ]]):gsub("VIEWER", tostring(viewer.pid))
        :gsub("EDITOR", tostring(runs("editor.runs")[1].pid))))
      assert.truthy(r.cgroup:match("/user@65534%.service/app%.slice/app%-spec%-viewer%-1%.scope$"),
        r.cgroup)
      assert.are_not.equal("service", r.viewer_type)
      assert.equal("nil", r.viewer_service)
      assert.are_not.equal("service", r.editor_type)
      assert.equal("nil", r.editor_service)
      assert.equal("service", r.daemon_type)
      assert.equal("user:65534:daemon.service", r.daemon_service)
    end)

  it("without libsystemd stops services with signals, as before, and says so",
    function()
      boot(function()
        return { ["plain.service"] = service { file = "p.txt", "Restart=no" } }
      end)
      file("p.txt", "v1\n")
      assert.equal(0, (select(2, m.systemctl("start plain.service"))))
      local r = inside([[
        local apps = rm.who_uses { DIR .. "/p.txt" }
        say("type", apps[1].type)
        say("systemd", apps[1].systemd)
        say("restartable", apps[1].restartable)
        local ok, plan, _, failed = rm.update({ files = { DIR .. "/p.txt" } }, function()
          say("during", state("plain.service"))
        end)
        say("ok", ok)
        say("msg", not ok and plan)
        plan = ok and plan or failed
        say("outcome", plan.apps[1].outcome)
        say("why", plan.apps[1].why)
        say("after", state("plain.service"))
      ]], { hide_libsystemd = true })
      assert.equal("service", r.type)
      assert.equal("libsystemd.so.0 could not be loaded", r.systemd)
      assert.equal("false", r.restartable, "it did not register: it stays down")
      assert.equal("inactive", r.during)
      assert.equal("true", r.ok, r.msg)
      assert.equal("stopped", r.outcome)
      assert.truthy(r.why:find("stopped with signals", 1, true), r.why)
      assert.equal("inactive", r.after, "signals cannot start a unit again")
    end)
end)
