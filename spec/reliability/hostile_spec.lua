-- Hostile input: a store that is not what it should be, keys built to
-- escape it, arguments of every wrong type, and a pid that another process
-- took over.
local H = require "spec.helpers"

-- "\0RMR2 <length> <hash>\n", the payload and "\n": a record as the store
-- holds it (64-bit FNV-1a of the payload; integers wrap in Lua 5.4).
local function record(payload)
  local h = -3750763034362895579
  for i = 1, #payload do h = (h ~ payload:byte(i)) * 0x100000001b3 end
  return ("\0RMR2 %d %016x\n%s\n"):format(#payload, h, payload)
end

-- dev and ino of a path, as the store records them (st_dev as a number).
local function identity(path)
  local out = H.sh("stat -c '%d %i' " .. H.q(path))
  return out:match("^(%d+) (%d+)")
end

describe("hostile input", function()
  local core
  local dir, children

  setup(function()
    core = require "restartmanager.core"
  end)

  local fx, holder, file
  before_each(function()
    fx = H.scratch()
    dir, children, holder, file = fx.dir, fx.children, fx.holder, fx.file
  end)

  after_each(function() fx.cleanup() end)



  -- Runs code in a child whose store lives under run (XDG_RUNTIME_DIR).
  local function in_store(run, code, opts)
    opts = opts or {}
    return H.lua(code, { env = "XDG_RUNTIME_DIR=" .. H.q(run) .. " "
      .. (opts.env or ""), prefix = opts.prefix })
  end

  local START = [[
    local core = require "restartmanager.core"
    local s, msg, code = core.start_session()
    print(s and "started" or code)
    if s then s:end_session() end
  ]]

  describe("the store", function()
    it("is refused for every single loose permission bit, and taken at 0700",
      function()
        for _, mode in ipairs { "740", "720", "710", "704", "702", "701" } do
          local run = dir .. "/run" .. mode
          H.sh("mkdir -p " .. H.q(run .. "/restartmanager") .. " && chmod "
            .. mode .. " " .. H.q(run .. "/restartmanager"))
          local out = in_store(run, START)
          assert.equal("5\n", out, "mode " .. mode)
          -- and nothing was created in it
          assert.equal("", H.sh("ls -A " .. H.q(run .. "/restartmanager")))
        end
        local run = dir .. "/run700"
        H.sh("mkdir -p -m 700 " .. H.q(run .. "/restartmanager"))
        assert.equal("started\n", in_store(run, START))
      end)

    it("is refused when it is a file, or a symlink to a directory of another user",
      function()
        local run = dir .. "/file"
        H.sh("mkdir " .. H.q(run))
        H.write(run .. "/restartmanager", "not a directory")
        assert.equal("5\n", in_store(run, START))
        assert.equal("not a directory", H.read(run .. "/restartmanager"))
        if H.is_root() then
          run = dir .. "/link"
          H.sh("mkdir -m 700 " .. H.q(dir .. "/nobodys") .. " && chown nobody "
            .. H.q(dir .. "/nobodys") .. " && mkdir " .. H.q(run) .. " && ln -s "
            .. H.q(dir .. "/nobodys") .. " " .. H.q(run .. "/restartmanager"))
          assert.equal("5\n", in_store(run, START))
          assert.equal("", H.sh("ls -A " .. H.q(dir .. "/nobodys")))
        end
      end)

    it("never follows a symlink in it: a session named by one is not joined, and a sweep deletes nothing outside",
      function()
        local run = dir .. "/run"
        H.sh("mkdir -m 700 " .. H.q(run))
        local store = run .. "/restartmanager"
        -- outside the store: files a careless sweep would remove
        local outside = dir .. "/outside"
        H.sh("mkdir " .. H.q(outside))
        local victim = file("outside/victim", "keep me")
        local out, rc = in_store(run, [[
          local core = require "restartmanager.core"
          local store = os.getenv("XDG_RUNTIME_DIR") .. "/restartmanager"
          local live, key = assert(core.start_session())
          local fake = ("f"):rep(32)
          local stale = ("e"):rep(32)
          local linked = ("d"):rep(32)
          -- a key that names a symlink to the live session
          os.execute("ln -s " .. key .. " " .. store .. "/" .. fake)
          -- a stale session (no one holds its lock) whose files are
          -- symlinks to the outside
          os.execute("mkdir " .. store .. "/" .. stale .. " && ln -s ]] .. victim
            .. [[ " .. store .. "/" .. stale .. "/records && ln -s ]] .. victim
            .. [[ " .. store .. "/" .. stale .. "/lock")
          -- a session name that is a symlink to the outside directory
          os.execute("ln -s ]] .. outside .. [[ " .. store .. "/" .. linked)
          local s, _, code = core.join_session(fake)
          print("join via symlink", s, code)
          -- a start sweeps stale sessions
          local other = assert(core.start_session())
          other:end_session()
          print("stale removed", io.open(store .. "/" .. stale) == nil)
          live:end_session()
        ]])
        assert.equal(0, rc, out)
        assert.matches("join via symlink\tnil\t1219\n", out)
        assert.matches("stale removed\ttrue\n", out)
        assert.equal("keep me", H.read(victim))
        assert.equal("victim\n", H.sh("ls " .. H.q(outside)))
        assert.truthy(H.read(store .. "/" .. ("d"):rep(32) .. "/victim"),
          "the linked directory was emptied")
      end)

    it("joins no session whose directory belongs to another user", function()
      if not H.is_root() then
        pending("needs root to give a directory away")
        return
      end
      local run = dir .. "/run"
      H.sh("mkdir -m 700 " .. H.q(run))
      local out, rc = in_store(run, [[
        local core = require "restartmanager.core"
        local store = os.getenv("XDG_RUNTIME_DIR") .. "/restartmanager"
        local p, key = assert(core.start_session())
        os.execute("chown nobody " .. store .. "/" .. key)
        print("join", select(3, core.join_session(key)))
        os.execute("chown root " .. store .. "/" .. key)
        print("join again", core.join_session(key) ~= nil)
        p:end_session()
      ]])
      assert.equal(0, rc, out)
      assert.equal("join\t1219\njoin again\ttrue\n", out)
    end)

    it("never reads registrations through a records file that is a symlink",
      function()
        local f = file("lure")
        local h = holder("open " .. H.q(f))
        local dev, ino = identity(f)
        -- a record that would name the held file, outside the store
        local planted = file("planted", record(("Ff:%s:%s:%s\0"):format(dev, ino, f)))
        local before = H.read(planted)
        local s <close>, key = assert(core.start_session())
        local records = H.store() .. "/" .. key .. "/records"
        H.sh("ln -s " .. H.q(planted) .. " " .. H.q(records))
        local apps, _, code = s:get_list(100)
        assert.is_nil(apps)
        assert.equal(29, code)
        local ok, _, rcode = s:register_resources({ f })
        assert.is_nil(ok)
        assert.equal(29, rcode)
        assert.equal(before, H.read(planted), "written through the symlink")
        -- the same record in the real file is read: the lure was well made
        H.sh("rm " .. H.q(records))
        H.write(records, before)
        apps = assert(s:get_list(100))
        assert.equal(h.pid, apps[1] and apps[1].pid)
      end)
  end)

  describe("session keys", function()
    local bad = {
      "", "a", ("a"):rep(31), ("a"):rep(33), ("A"):rep(32),
      "0123456789ABCDEF0123456789abcdef", ("g"):rep(32), (" "):rep(32),
      "../../../../../../../../etc/pas", "..", ".", "/", ("."):rep(32),
      "0123456789abcdef0123456789abcde/", "0123456789abcdef/123456789abcdef",
      "0123456789abcdef0123456789abcdef\n", " 0123456789abcdef0123456789abcde",
      ("\u{e9}"):rep(16), "0123456789abcdef0123456789abcde\u{e9}",
      "0x23456789abcdef0123456789abcdef", "-123456789abcdef0123456789abcdef",
    }

    it("are refused with 1219 before any file is looked at", function()
      -- the store is a file: any access would answer 5
      local run = dir .. "/run"
      H.sh("mkdir " .. H.q(run))
      H.write(run .. "/restartmanager", "")
      local lines = {}
      for i, k in ipairs(bad) do
        lines[i] = ("print(%d, select(3, core.join_session(%q)))"):format(i, k)
      end
      -- (the first print sets up the standard output's buffer: before)
      local code = "local core = require 'restartmanager.core'\n"
        .. "print('keys')\n"
        .. "io.open('/restartmanager-marker-begin')\n"
        .. table.concat(lines, "\n") .. "\n"
        .. "io.open('/restartmanager-marker-end')\n"
        .. ("print('valid', select(3, core.join_session(%q)))"):format(("a"):rep(32))
      local trace = dir .. "/trace"
      -- (LeakSanitizer cannot run under strace: off in a sanitized run)
      local out, rc = in_store(run, code, {
        env = "ASAN_OPTIONS=" .. H.q((os.getenv("ASAN_OPTIONS") or "")
          .. ":detect_leaks=0"),
        prefix = "strace -f -qq -e trace=%file,%desc -o " .. H.q(trace) })
      assert.equal(0, rc, out)
      for i = 1, #bad do
        assert.matches("%f[%d]" .. i .. "\t1219\n", out, "key " .. ("%q"):format(bad[i]))
      end
      -- a well-formed key does reach the store, and is refused there
      assert.matches("valid\t5\n", out)
      -- between the markers, no system call named a file or a descriptor
      local log = assert(H.read(trace))
      local between = log:match("restartmanager%-marker%-begin[^\n]*\n(.-)\n[^\n]*restartmanager%-marker%-end")
      assert.is_not_nil(between, "markers not in the trace")
      local calls = {}
      for line in between:gmatch("[^\n]+") do
        -- the prints themselves write to the standard output, and the
        -- allocator maps anonymous memory
        if not line:match("^%d+%s+write%(1,")
            and not line:match("^%d+%s+mu?n?map%(.*, %-1, 0%)")
            and not line:match("^%d+%s+munmap%(") then
          calls[#calls + 1] = line
        end
      end
      assert.same({}, calls)
    end)

    it("with a zero byte or of another type raise, and touch nothing", function()
      assert.has_error(function() core.join_session(("a"):rep(16) .. "\0" .. ("a"):rep(15)) end,
        "bad argument #1 to 'join_session' (string contains a zero byte)")
      assert.has_error(function() core.join_session(123) end)
      assert.has_error(function() core.join_session() end)
      assert.has_error(function() core.join_session({}) end)
    end)
  end)

  describe("arguments", function()
    it("of every wrong type, in every position, raise an argument error", function()
      -- in a child: a crash would show as its exit status
      local out, rc = H.lua([=[
        local core = require "restartmanager.core"
        local s, key = assert(core.start_session())
        local wrong = {
          ["nil"] = nil, boolean = true, integer = 7, float = 1.5,
          word = "word", table = {}, fn = print, userdata = io.stdout,
          thread = coroutine.create(print),
        }
        local names = { "nil", "boolean", "integer", "float", "word",
          "table", "fn", "userdata", "thread" }
        -- per function, per argument: the kinds of value it accepts
        -- (a numeric string is an integer to Lua; nil where optional)
        local calls = {
          { "join_session", core.join_session, { { word = true } } },
          { "process", core.process, { { integer = true } } },
          { "register_application_restart", core.register_application_restart,
            { { ["nil"] = true, table = true }, { ["nil"] = true, integer = true } } },
          { "register_resources", s.register_resources, {
            { ["nil"] = true, table = true }, { ["nil"] = true, table = true },
            { ["nil"] = true, table = true } }, true },
          { "get_list", s.get_list, { { ["nil"] = true, integer = true } }, true },
          { "shutdown", s.shutdown, { { ["nil"] = true, integer = true },
            { ["nil"] = true, fn = true }, { ["nil"] = true, integer = true } }, true },
          { "restart", s.restart, { { ["nil"] = true, fn = true } }, true },
          { "add_filter", s.add_filter, { { word = false }, { word = true },
            { word = false } }, true },
          { "remove_filter", s.remove_filter, { { word = false }, { word = true } }, true },
        }
        -- arguments that are accepted (nil where nil is)
        local good = {
          join_session = { ("0"):rep(32) }, process = { 1 },
          register_application_restart = { {}, 0 },
          register_resources = { {}, {}, {} }, get_list = { 0 },
          shutdown = { 0, print, 100 }, restart = { print },
          add_filter = { "file", "/x", "no_restart" },
          remove_filter = { "file", "/x" },
        }
        local tried, raised = 0, 0
        for _, c in ipairs(calls) do
          local name, fn, accepts, method = c[1], c[2], c[3], c[4]
          for pos, ok_kinds in ipairs(accepts) do
            for _, kind in ipairs(names) do
              if not ok_kinds[kind] then
                local args = {}
                for i, v in ipairs(good[name]) do args[i] = v end
                args[pos] = wrong[kind]
                local n = #accepts
                local ok, err
                if method then
                  ok, err = pcall(fn, s, table.unpack(args, 1, n))
                else
                  ok, err = pcall(fn, table.unpack(args, 1, n))
                end
                tried = tried + 1
                local want = method and pos + 1 or pos
                if ok or not tostring(err):match("bad argument #" .. want .. " ") then
                  print(("%s arg %d = %s: %s"):format(name, pos, kind,
                    ok and "accepted" or tostring(err)))
                else
                  raised = raised + 1
                end
              end
            end
          end
        end
        core.unregister_application_restart()
        s:end_session()
        print(("tried %d raised %d"):format(tried, raised))
      ]=])
      assert.equal(0, rc, out)
      local tried, raised = out:match("tried (%d+) raised (%d+)\n$")
      assert.is_not_nil(tried, out)
      assert.is_true(tonumber(tried) > 100)
      assert.equal(tried, raised, out)
    end)

    it("inside arrays give messages that name the index", function()
      local s <close> = assert(core.start_session())
      local cases = {
        { { "/ok", "/a\0b" }, nil, nil, "#2.-string at index 2 contains a zero byte" },
        { { "/ok", true }, nil, nil, "#2.-string expected at index 2, got boolean" },
        { nil, { 1 }, nil, "#3.-process table expected at index 1, got number" },
        { nil, { { pid = 1 } }, nil, "#3.-start_time must be a non%-negative integer at index 1" },
        { nil, { { pid = -1, start_time = 0 } }, nil, "#3.-pid must be an integer from 0" },
        { nil, { { pid = 2 ^ 32, start_time = 0 } }, nil, "#3.-pid must be an integer from 0" },
        { nil, { { pid = 1.5, start_time = 0 } }, nil, "#3.-pid must be an integer" },
        { nil, { { pid = 1, start_time = -1 } }, nil, "#3.-start_time must be" },
        { nil, { { pid = 1, start_time = 1e300 } }, nil, "#3.-start_time must be" },
        { nil, nil, { "cron", 5 }, "#4.-string expected at index 2, got number" },
        { nil, nil, { "a\0" }, "#4.-zero byte" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(s.register_resources, s, c[1], c[2], c[3])
        assert.is_false(ok)
        assert.matches("bad argument " .. c[4], err)
      end
      -- an empty name is an operation error, not a crash
      local ok, _, code = s:register_resources(nil, nil, { "" })
      assert.is_nil(ok)
      assert.equal(160, code)
      ok, _, code = s:register_resources({ "" })
      assert.is_nil(ok)
      assert.equal(160, code)
    end)

    it("of absurd length are refused before anything is allocated for them",
      function()
        local s <close> = assert(core.start_session())
        local function len(n)
          return setmetatable({}, { __len = function() return n end })
        end
        for _, n in ipairs { 2 ^ 40, math.maxinteger, 10000001, -1 } do
          local ok, err = pcall(s.register_resources, s, len(n))
          assert.is_false(ok)
          assert.matches("array too large", err)
          ok, err = pcall(s.register_resources, s, nil, len(n))
          assert.is_false(ok)
          assert.matches("array too large", err)
        end
        assert.has_error(function() s:register_resources(len(0.5)) end)
        assert.has_error(function() s:register_resources(len("x")) end)
        assert.has_error(function() s:get_list(1000001) end)
        assert.has_error(function() s:get_list(-1) end)
        assert.has_error(function() s:get_list(math.maxinteger) end)
        assert.has_error(function() s:shutdown(-1) end)
        assert.has_error(function() s:shutdown(2 ^ 32) end)
        assert.has_error(function() s:shutdown(0, nil, -1) end)
        assert.has_error(function() s:shutdown(0, nil, 2 ^ 31) end)
        assert.has_error(function() core.process(-1) end)
        assert.has_error(function() core.process(2 ^ 32) end)
        assert.has_error(function() core.register_application_restart({}, 16) end)
      end)

    it("handed out by metamethods are kept alive while the module reads them",
      function()
        -- a proxy whose strings exist nowhere else, with collections in
        -- between: the module must keep each one alive itself
        local n = 200
        local held = file("held-through-a-proxy")
        local h = holder("open " .. H.q(held))
        local files = setmetatable({}, {
          __len = function() return n end,
          __index = function(_, i)
            -- the string handed out before is garbage now: collect it and
            -- fill its memory with others of its size
            local path = dir .. "/none-" .. ("%03d"):format(i) .. ("x"):rep(64)
            collectgarbage()
            local junk = {}
            for k = 1, 64 do junk[k] = ("J"):rep(#path - 3) .. ("%03d"):format(k) end
            assert(#junk == 64)
            if i == n then return dir .. "/" .. ("held-through-a-proxy") end
            return path
          end,
        })
        local s <close>, key = assert(core.start_session())
        assert.is_true(s:register_resources(files))
        local data = assert(H.read(H.store() .. "/" .. key .. "/records"))
        local count = 0
        for _ in data:gmatch("/none%-%d%d%d" .. ("x"):rep(64) .. "%z") do count = count + 1 end
        assert.equal(n - 1, count, "paths were not recorded as given")
        local apps = assert(s:get_list(10))
        assert.equal(h.pid, apps[1] and apps[1].pid)
      end)
  end)

  describe("a pid taken over by another process", function()
    local SAME_PID

    setup(function()
      SAME_PID = H.BUILD .. "/helpers/same_pid"
    end)

    -- Starts a holder with exactly pid; returns it or nil when the pid
    -- cannot be had (not root, or taken meanwhile).
    local function holder_at(pid, words)
      local c = H.start(H.q(SAME_PID) .. " " .. pid .. " " .. H.q(H.BUILD
        .. "/helpers/holder") .. " " .. words)
      children[#children + 1] = c
      local out = H.wait_for(function()
        local o = c.output()
        return (o:match("ready %d+") or o:match("same_pid:")) and o
      end, function() return "a holder at " .. pid .. ": " .. c.output() end)
      local got = out:match("ready (%d+)")
      if not got then return nil end
      -- kill the holder too when the spec ends (the process, not the pid)
      local start = H.start_time(got)
      children[#children + 1] = { kill = function() H.kill(got, start) end }
      assert.equal(pid, tonumber(got))
      return c
    end

    -- Kills child and waits until its pid is free again (reaped).
    local function free(child)
      child.kill("KILL")
      H.wait_for(function() return not H.read("/proc/" .. child.pid .. "/stat") end,
        "pid " .. child.pid .. " to be reaped")
    end

    local alive = H.alive


    it("is not signalled when the listed holder of a file is replaced by another program",
      function()
        if not H.is_root() then
          pending("needs root to choose a pid")
          return
        end
        local f = file("replaced-holder")
        local g = file("unrelated")
        local a = holder("open " .. H.q(f))
        local s <close> = assert(core.start_session())
        assert.is_true(s:register_resources({ f }))
        local apps = assert(s:get_list(10))
        assert.equal(a.pid, apps[1] and apps[1].pid)
        local listed = apps[1]
        free(a)
        -- it blocks SIGTERM: one sent to it would stay pending, in sight
        local b = holder_at(a.pid, "block-term open " .. H.q(g))
        if not b then
          pending("the pid was taken by something else")
          return
        end
        assert.not_equal(listed.start_time, core.process(a.pid).start_time)
        -- a fresh list does not name it: it uses nothing registered
        assert.same({}, assert(s:get_list(10)))
        -- the list the installer holds names pid a.pid; the shutdown that
        -- follows must not touch the program that has that pid now
        assert.is_true(s:shutdown(core.shutdown.force, nil, 500))
        -- a signal leaves its trace as soon as the call that sent it
        -- returned: SIGTERM pending, SIGKILL an exiting process
        assert.is_true(alive(a.pid), "the new process was killed")
        assert.is_false(H.pending(a.pid, 15), "the new process got SIGTERM")
        assert.is_true(H.untouched(a.pid), "the new process got a signal")
      end)
  end)
end)
