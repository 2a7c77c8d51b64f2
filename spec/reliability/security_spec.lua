-- Attacks by another local user on a root installer, and by the files one
-- finds in a store: restart registrations placed by someone else, FIFOs and
-- devices where files should be, store directories taken in advance,
-- symlinks that appear after a path was registered, and process names
-- written for a terminal. Real users (nobody), real processes, real
-- FIFOs; the parts that need root say so and are pending without it.
local H = require "spec.helpers"

local NOBODY = 65534

describe("security", function()
  local core, rm
  setup(function()
    core = require "restartmanager.core"
    rm = require "restartmanager"
  end)

  local fx, dir
  before_each(function()
    fx = H.scratch()
    dir = fx.dir
  end)
  after_each(function() fx.cleanup() end)

  local function need_root()
    if not H.is_root() then
      pending("needs root to act as another user")
      return false
    end
    return true
  end

  -- A runtime directory that belongs to nobody (mode 0700), with its store.
  local function nobody_run(name)
    local run = dir .. "/" .. (name or "nobody-run")
    H.sh("mkdir -p -m 700 " .. H.q(run .. "/restartmanager") .. " && chmod 700 "
      .. H.q(run) .. " && chown -R " .. NOBODY .. " " .. H.q(run))
    return run, run .. "/restartmanager"
  end

  -- Words that run a command as nobody with XDG_RUNTIME_DIR = run.
  local function as_nobody(run)
    return H.as_nobody() .. (run and (" XDG_RUNTIME_DIR=" .. H.q(run)) or "")
  end

  -- "restart-PID-START" for a live process.
  local function reg_name(pid)
    local p = assert(core.process(pid))
    return ("restart-%d-%d"):format(p.pid, p.start_time)
  end

  describe("a restart registration", function()
    it("placed by another user for a root process never runs as root",
      function()
        if not need_root() then return end
        local copy = H.world_readable_copy()
        local f = fx.file("config")
        local out = dir .. "/out"
        H.sh("mkdir -m 777 " .. H.q(out))
        local run, store = nobody_run()
        -- a root process that works as nobody (dumpable: /proc/PID is
        -- nobody's), holding the file root updates
        local victim = fx.track(H.start("env XDG_RUNTIME_DIR=" .. H.q(run) .. " "
          .. H.q(H.BUILD .. "/helpers/euid_holder") .. " " .. NOBODY .. " " .. H.q(f)))
        victim.wait_line("ready (%d+)")
        assert.equal(tostring(NOBODY), H.sh("stat -c %u /proc/" .. victim.pid):match("%d+"))
        -- nobody registers a command of its choice, under the victim's name
        local o, rc = H.lua(([[
          local core = require "restartmanager.core"
          assert(core.register_application_restart({ "-e",
            "os.execute('id -u > %s/ran-as')" }))
          local me = core.process(tonumber(io.open("/proc/self/stat"):read("l"):match("^%%d+")))
          local store = os.getenv("XDG_RUNTIME_DIR") .. "/restartmanager/"
          assert(os.rename(store .. ("restart-%%d-%%d"):format(me.pid, me.start_time),
            store .. %q))
          print("placed")
        ]]):format(out, reg_name(victim.pid)), { env = H.lua_env_at(copy),
          prefix = as_nobody(run) })
        assert.equal(0, rc, o)
        assert.truthy(H.read(store .. "/" .. reg_name(victim.pid)))
        -- root updates the file
        local ok, plan = rm.update({ files = { f } }, function() end,
          { force = true, timeout = 2 })
        assert.is_true(ok, plan)
        assert.is_false(victim.alive())
        local e = plan.apps[1]
        assert.equal(victim.pid, e.pid)
        if e.restart_outcome == "restarted" then
          -- it may only have run as the user who registered it
          local ran
          for _ = 1, 500 do
            ran = H.read(out .. "/ran-as")
            if ran and ran ~= "" then break end
            H.sh("sleep 0.01")
          end
          assert.equal(NOBODY .. "\n", ran)
        else
          assert.is_nil(H.read(out .. "/ran-as"))
        end
      end)

    it("that is a FIFO does not hang a root installer's list or shutdown",
      function()
        if not need_root() then return end
        local f = fx.file("shared")
        local run, store = nobody_run()
        local h = fx.holder("open " .. H.q(f), { prefix = as_nobody(run) })
        H.sh("setpriv --reuid=" .. NOBODY .. " --regid=nogroup --clear-groups mkfifo "
          .. H.q(store .. "/" .. reg_name(h.pid)))
        local out, rc = H.sh("timeout 20 env " .. H.lua_env() .. " " .. H.LUA
          .. " -e " .. H.q(([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          assert(s:register_resources({ %q }))
          local apps = assert(s:get_list(10))
          print("listed", #apps, apps[1] and apps[1].pid, apps[1] and apps[1].restartable)
          print("shutdown", s:shutdown(core.shutdown.force, nil, 2000))
          s:end_session()
        ]]):format(f)) .. " 2>&1")
        assert.not_equal(124, rc, "the installer hung on the FIFO")
        assert.equal(0, rc, out)
        assert.matches("listed\t1\t" .. h.pid .. "\tfalse\n", out)
        assert.matches("shutdown\ttrue\n", out)
        assert.is_true(H.gone(h.pid))
      end)

    it("left half-written by a killed writer is swept", function()
      local store = H.store()
      local s = assert(core.start_session()) -- creates the store
      s:end_session()
      -- a writer killed between the write and the rename: a dead pid
      local dead = store .. "/restart-999999999-12345.tmp"
      H.write(dead, "RMRESTART1\0")
      assert.is_true(core.register_application_restart({}))
      assert.is_true(core.unregister_application_restart())
      assert.is_nil(H.read(dead), "the leftover was not swept")
    end)
  end)

  describe("the store directory of a user without XDG_RUNTIME_DIR", function()
    -- Runs script (sh) in a mount namespace of its own, with private /tmp
    -- and /run, so that the machine's own stores are never touched.
    local function in_private_tmp(script)
      return H.sh("unshare --mount --propagation private sh -c "
        .. H.q("mount -t tmpfs none /tmp && mount -t tmpfs -o mode=755 none /run && "
          .. script)
        .. " 2>&1")
    end

    -- The interpreter, where the private /tmp does not hide it (the
    -- sanitized run keeps its interpreter in a temporary directory): a copy
    -- in the build directory, removed at the end.
    local function ns_lua()
      if not H.LUA:match("^/tmp/") and not H.LUA:match("^/run/") then
        return H.LUA
      end
      local copy = H.BUILD .. "/ns-lua"
      H.sh("cp " .. H.q(H.LUA) .. " " .. H.q(copy))
      H.finally(finally, function() os.remove(copy) end)
      return copy
    end

    -- The checkout and build must lie outside /tmp and /run.
    local function hidden()
      for _, p in ipairs { H.ROOT, H.BUILD } do
        if p:match("^/tmp/") or p:match("^/run/") then
          pending("the checkout lies in /tmp or /run, which the spec hides")
          return true
        end
      end
      return false
    end

    local function root_lua(code)
      return "env -u XDG_RUNTIME_DIR " .. H.lua_env() .. " " .. ns_lua() .. " -e "
        .. H.q(code)
    end

    local USE = [[
      local core = require "restartmanager.core"
      local s, msg, code = core.start_session()
      print("start", s ~= nil, code)
      if s then s:end_session() end
      print("register", core.register_application_restart({}) == true)
      print("unregister", core.unregister_application_restart() == true)
    ]]

    for _, how in ipairs { "directory", "symlink" } do
      it("taken in advance by another user (a " .. how .. ") does not block root",
        function()
          if not need_root() or hidden() then return end
          local take = how == "directory"
            and "mkdir -m 700 /tmp/restartmanager-0"
            or "mkdir -m 700 /tmp/mine && ln -s /tmp/mine /tmp/restartmanager-0"
          local out, rc = in_private_tmp(
            "chmod 1777 /tmp && setpriv --reuid=" .. NOBODY
            .. " --regid=nogroup --clear-groups sh -c " .. H.q(take)
            .. " && " .. root_lua(USE))
          assert.equal(0, rc, out)
          assert.matches("start\ttrue", out)
          assert.matches("register\ttrue\n", out)
          assert.matches("unregister\ttrue\n", out)
        end)
    end

    -- What makes user nobody a user with a home of its own, in the mount
    -- namespace of in_private_tmp: /tmp/home (nobody's, mode 0755) through
    -- a password database bind-mounted over /etc/passwd; then another user
    -- (daemon) takes /tmp/restartmanager-65534 in advance and tries to
    -- create nobody's store in that home.
    local HOME_SETUP = "chmod 1777 /tmp && mkdir -m 755 /tmp/home && chown 65534:65534 /tmp/home"
      .. " && sed 's#^\\(nobody:[^:]*:[^:]*:[^:]*:[^:]*:\\)[^:]*:#\\1/tmp/home:#' /etc/passwd"
      .. " > /tmp/passwd && mount --bind /tmp/passwd /etc/passwd"
      .. " && setpriv --reuid=daemon --regid=daemon --clear-groups sh -c"
      .. " 'mkdir -m 700 /tmp/restartmanager-65534; mkdir /tmp/home/.restartmanager 2>/dev/null"
      .. " && echo took-home || echo home-refused'"

    -- A copy of the module and Lua files that nobody can read, outside the
    -- private /tmp (in the build directory), or nil (pending) where nobody
    -- cannot reach the build directory.
    local function nobody_copy()
      local copy = H.BUILD .. "/nobody-copy"
      H.sh("rm -rf " .. H.q(copy) .. " && mkdir -p " .. H.q(copy .. "/build")
        .. " && cp -r " .. H.q(H.ROOT .. "/lua") .. " " .. H.q(copy .. "/lua")
        .. " && cp -r " .. H.q(H.BUILD .. "/restartmanager") .. " " .. H.q(copy .. "/build/")
        .. " && chmod -R a+rX " .. H.q(copy))
      H.finally(finally, function() H.sh("rm -rf " .. H.q(copy)) end)
      local lua = ns_lua()
      if not lua:find("/", 1, true) then lua = (H.sh("command -v " .. lua):gsub("%s+$", "")) end
      local _, rc = H.sh(H.NOBODY .. " test -r " .. H.q(copy .. "/build/restartmanager/core.so")
        .. " -a -x " .. H.q(lua))
      if rc ~= 0 then
        pending("user nobody cannot reach the build directory")
        return nil
      end
      return "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin " .. H.lua_env_at(copy) .. " " .. lua
    end

    it("of a user with a home is there, where no other user can take it", function()
      if not need_root() or hidden() then return end
      local nobody_lua = nobody_copy()
      if not nobody_lua then return end
      local out, rc = in_private_tmp(HOME_SETUP .. " && " .. H.NOBODY .. " "
        .. nobody_lua .. " -e " .. H.q(USE)
        .. " && stat -c 'store %u %a' /tmp/home/.restartmanager")
      assert.equal(0, rc, out)
      assert.matches("home%-refused", out)
      assert.matches("start\ttrue", out)
      assert.matches("register\ttrue\n", out)
      assert.matches("unregister\ttrue\n", out)
      assert.matches("store 65534 700\n", out)
    end)

    it("of a user with a home is where root finds its restart registration", function()
      if not need_root() or hidden() then return end
      local nobody_lua = nobody_copy()
      if not nobody_lua then return end
      -- nobody's application registers and holds a file; a root installer
      -- lists it as restartable
      local app = [[
        local core = require "restartmanager.core"
        print("app", core.register_application_restart({}) == true)
        local held = io.open("/tmp/data")
        io.open("/tmp/ready", "w"):close()
        while not io.open("/tmp/stop") do os.execute("sleep 0.05") end
        held:close()
        core.unregister_application_restart()
      ]]
      local installer = [[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        assert(s:register_resources({ "/tmp/data" }))
        local apps = assert(s:get_list(10))
        print("restartable", apps[1] and apps[1].restartable)
        s:end_session()
      ]]
      local out, rc = in_private_tmp(HOME_SETUP
        .. " && echo data > /tmp/data && chmod 644 /tmp/data && { " .. H.NOBODY .. " "
        .. nobody_lua .. " -e " .. H.q(app) .. " & } && app=$! && i=0"
        .. " && while [ ! -e /tmp/ready ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
        .. " && " .. root_lua(installer) .. "; touch /tmp/stop; wait $app")
      assert.equal(0, rc, out)
      assert.matches("app\ttrue\n", out)
      assert.matches("restartable\ttrue\n", out)
    end)

    it("is found by root when it registered for restart", function()
      if not need_root() or hidden() then return end
      -- a root application without XDG_RUNTIME_DIR registers; a root
      -- installer with one lists it as restartable
      -- (the scratch directory is hidden by the private /tmp)
      local f = "/tmp/app-data"
      local out, rc = in_private_tmp("echo data > " .. f .. " && " .. root_lua(([[
        local core = require "restartmanager.core"
        assert(core.register_application_restart({}))
        local held = io.open(%q)
        os.execute("mkdir -m 700 /tmp/xdg")
        local s = assert(io.popen("env XDG_RUNTIME_DIR=/tmp/xdg " .. %q
          .. " -e \"local core = require 'restartmanager.core'"
          .. " local s = assert(core.start_session())"
          .. " assert(s:register_resources({ '" .. %q .. "' }))"
          .. " local apps = assert(s:get_list(10))"
          .. " print('restartable', apps[1] and apps[1].restartable)\""))
        io.write(s:read("a"))
        s:close()
        held:close()
        core.unregister_application_restart()
      ]]):format(f, ns_lua(), f)))
      assert.equal(0, rc, out)
      assert.matches("restartable\ttrue\n", out)
    end)
  end)

  describe("a registered path that did not exist yet", function()
    it("is not followed through a symlink another user puts there",
      function()
        if not need_root() then return end
        local userdir = dir .. "/userdir"
        H.sh("mkdir " .. H.q(userdir) .. " && chown " .. NOBODY .. " " .. H.q(userdir))
        local secret = fx.file("secret")
        local h = fx.holder("open " .. H.q(secret))
        local s <close> = assert(core.start_session())
        assert.is_true(s:register_resources({ userdir .. "/future.conf" }))
        assert.same({}, assert(s:get_list(10)))
        H.sh("setpriv --reuid=" .. NOBODY .. " --regid=nogroup --clear-groups ln -s "
          .. H.q(secret) .. " " .. H.q(userdir .. "/future.conf"))
        assert.same({}, assert(s:get_list(10)), "the symlink was followed")
        assert.is_true(h.alive())
      end)
  end)

  describe("one's own store", function()
    -- Runs code in a child under timeout, with a store of its own (what
    -- it leaves there would trap the next spec): its output and status.
    local function bounded(code)
      local run = dir .. "/run"
      H.sh("mkdir -p -m 700 " .. H.q(run))
      return H.sh("timeout 20 env XDG_RUNTIME_DIR=" .. H.q(run) .. " "
        .. H.lua_env() .. " " .. H.LUA .. " -e "
        .. H.q("local core = require 'restartmanager.core'\n"
          .. "local STORE = " .. ("%q"):format(run .. "/restartmanager") .. "\n"
          .. code) .. " 2>&1")
    end

    it("with a FIFO for a session's records does not hang register or list",
      function()
        local out, rc = bounded([[
          local s, key = assert(core.start_session())
          local records = STORE .. "/" .. key .. "/records"
          os.remove(records)
          assert(os.execute("mkfifo " .. records))
          print("register", select(3, s:register_resources({ "/etc/hostname" })))
          print("list", select(3, s:get_list(10)))
          local j = core.join_session(key)
          print("join register", select(3, j:register_resources({ "/etc/hostname" })))
          j:end_session()
          s:end_session()
        ]])
        assert.not_equal(124, rc, "hung: " .. out)
        assert.equal(0, rc, out)
        assert.matches("register\t%d+\n", out)
        assert.matches("list\t%d+\n", out)
        assert.matches("join register\t%d+\n", out)
      end)

    it("with a FIFO for a session's lock does not hang start or join",
      function()
        local out, rc = bounded([[
          local s, key = assert(core.start_session())
          local lock = STORE .. "/" .. key .. "/lock"
          os.remove(lock)
          assert(os.execute("mkfifo " .. lock))
          print("join", select(3, core.join_session(key)))
          -- a stale session whose lock is a FIFO, for the sweep of a start
          local stale = STORE .. "/" .. ("e"):rep(32)
          assert(os.execute("mkdir -m 700 " .. stale .. " && mkfifo " .. stale .. "/lock"))
          local t = core.start_session()
          print("start", t ~= nil)
          if t then t:end_session() end
          s:end_session()
        ]])
        assert.not_equal(124, rc, "hung: " .. out)
        assert.equal(0, rc, out)
        assert.matches("join\t%d+\n", out)
        assert.matches("start\ttrue\n", out)
      end)

    it("with a device for a session's records refuses registrations",
      function()
        if not need_root() then return end
        local out, rc = bounded([[
          local s, key = assert(core.start_session())
          local records = STORE .. "/" .. key .. "/records"
          os.remove(records)
          assert(os.execute("mknod " .. records .. " c 1 5")) -- /dev/zero
          print("register", s:register_resources({ "/etc/hostname" }))
          print("list", s:get_list(10))
          s:end_session()
        ]])
        assert.not_equal(124, rc, "hung: " .. out)
        assert.equal(0, rc, out)
        assert.matches("register\tnil\t", out)
        assert.matches("list\tnil\t", out)
      end)
  end)

  describe("process names chosen by another user", function()
    -- a copy of the holder whose name carries a terminal escape sequence
    -- (it sets the window title and clears the screen) and a byte that is
    -- not UTF-8
    local NAME = "e\27]0;x\7\27[2J\255"

    local function evil_holder(f)
      local exe = dir .. "/" .. NAME
      H.sh("cp " .. H.q(H.BUILD .. "/helpers/holder") .. " " .. H.q(exe))
      return fx.holder("open " .. H.q(f), { exe = exe })
    end

    local function clean(s)
      return not s:find("[%z\1-\8\11-\31\127]") and utf8.len(s) ~= nil
    end

    it("are shown without control characters in a plan", function()
      local f = fx.file("watched")
      local h = evil_holder(f)
      local plan = assert(rm.plan({ files = { f } }))
      assert.equal(h.pid, plan.apps[1].pid)
      local text = tostring(plan)
      assert.matches(tostring(h.pid), text)
      assert.is_true(clean(text), ("%q"):format(text))
    end)

    it("make valid JSON log lines", function()
      local f = fx.file("watched")
      evil_holder(f)
      local lines = {}
      assert(rm.plan({ files = { f } }, { log = function(line)
        lines[#lines + 1] = line
      end }))
      assert.is_true(#lines > 0)
      for _, line in ipairs(lines) do
        assert.is_true(clean(line), ("%q"):format(line))
      end
    end)

    it("reach the terminal through the CLI without control characters",
      function()
        local f = fx.file("watched")
        local h = evil_holder(f)
        for _, args in ipairs { "list " .. H.q(f), "list --json " .. H.q(f),
            "plan " .. H.q(f) } do
          local out = H.sh("env " .. H.lua_env() .. " " .. H.LUA .. " "
            .. H.q(H.ROOT .. "/bin/restartmanager") .. " " .. args .. " 2>&1")
          assert.matches(tostring(h.pid), out)
          assert.is_true(clean(out), args .. ": " .. ("%q"):format(out))
        end
      end)
  end)
end)
