-- Starting processes without a shell (core.spawn, core.wait,
-- core.executable) and handing the session key to secondary installers
-- (rm.spawn_secondary), with real child processes.
local H = require "spec.helpers"

describe("core.spawn, core.wait and core.executable", function()
  local core, dir

  setup(function()
    core = require "restartmanager.core"
  end)

  before_each(function()
    dir = H.tmpdir()
  end)

  after_each(function()
    H.sh("rm -rf " .. H.q(dir))
  end)

  -- a Lua child that writes what it was given to a file
  local function echo_args(out)
    local script = dir .. "/echo.lua"
    H.write(script, ([[
      local f = assert(io.open(%q, "w"))
      for i = 1, #arg do f:write(arg[i], "\n") end
      f:write("FOO=", tostring(os.getenv("RM_SPEC_FOO")), "\n")
      f:write("RM_BUILD=", tostring(os.getenv("RM_BUILD")), "\n")
      f:close()]]):format(out))
    return { H.LUA, script }
  end

  it("passes every argument as it is, with no shell in between", function()
    local out = dir .. "/args"
    local argv = echo_args(out)
    local odd = { "two words", "$HOME", "'quoted'", "a;b|c&d", "`x`", "*",
      "" }
    for _, a in ipairs(odd) do argv[#argv + 1] = a end
    local pid = assert(core.spawn(argv))
    assert.same({ "exit", 0 }, { core.wait(pid) })
    local lines = {}
    for line in (H.read(out) .. ""):gmatch("([^\n]*)\n") do
      lines[#lines + 1] = line
    end
    for i, a in ipairs(odd) do assert.equal(a, lines[i]) end
  end)

  it("sets and removes environment variables, inheriting the rest",
    function()
      local out = dir .. "/env"
      local pid = assert(core.spawn(echo_args(out),
        { RM_SPEC_FOO = "bar baz", RM_BUILD = false }))
      core.wait(pid)
      local text = H.read(out)
      assert.matches("FOO=bar baz\n", text, 1, true)
      assert.matches("RM_BUILD=nil\n", text, 1, true)
      pid = assert(core.spawn(echo_args(out)))
      core.wait(pid)
      -- the specs always run with RM_BUILD set
      assert.matches("RM_BUILD=" .. assert(os.getenv("RM_BUILD")) .. "\n",
        H.read(out), 1, true)
    end)

  it("does not pass the caller's open files on", function()
    local held = dir .. "/held-by-parent"
    H.write(held, "x")
    local f = assert(io.open(held))
    local out = dir .. "/fds"
    local pid = assert(core.spawn { "sh", "-c",
      'for f in /proc/$$/fd/*; do readlink "$f"; done > "$1"', "sh", out })
    core.wait(pid)
    f:close()
    local fds = H.read(out)
    assert.is_nil(fds:find(held, 1, true), fds)
    assert.matches(out, fds, 1, true) -- the listing itself works
  end)

  it("reports the exit status and the signal that ended a child", function()
    local pid = assert(core.spawn { "sh", "-c", "exit 7" })
    assert.same({ "exit", 7 }, { core.wait(pid) })
    pid = assert(core.spawn { "sh", "-c", "kill -TERM $$; sleep 5" })
    assert.same({ "signal", 15 }, { core.wait(pid) })
  end)

  it("tells a running child apart with nohang, and refuses a non-child",
    function()
      local pid = assert(core.spawn { "sleep", "5" })
      assert.equal("running", core.wait(pid, true))
      H.sh("kill -KILL " .. pid)
      assert.same({ "signal", 9 }, { core.wait(pid) })
      local ok, msg, code = core.wait(pid)
      assert.is_nil(ok)
      assert.equal(6, code)
      assert.matches("^ERROR_INVALID_HANDLE %(6%): cannot wait for " .. pid,
        msg)
    end)

  it("returns nil, message, 2 for a program that does not exist", function()
    local ok, msg, code = core.spawn { dir .. "/no-such-program" }
    assert.is_nil(ok)
    assert.equal(2, code)
    assert.matches("^ERROR_FILE_NOT_FOUND %(2%): cannot start", msg)
    ok, msg, code = core.spawn { "restartmanager-no-such-program-in-path" }
    assert.is_nil(ok)
    assert.equal(2, code)
    assert.matches("'restartmanager%-no%-such%-program%-in%-path'", msg)
  end)

  it("returns nil, message, 5 for a file that may not be run", function()
    local f = dir .. "/not-executable"
    H.write(f, "#!/bin/sh\n")
    -- no execute bit: not even root may run it
    local ok, msg, code = core.spawn { f }
    assert.is_nil(ok)
    assert.equal(5, code, msg)
    assert.matches("^ERROR_ACCESS_DENIED %(5%): cannot start", msg)
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.spawn("ls") end)
    assert.error_matches(function() core.spawn {} end,
      "bad argument #1 to '[%w.]*spawn' %(the program is missing%)")
    assert.error_matches(function() core.spawn { "ls", 5 } end,
      "bad argument #1 to '[%w.]*spawn' %(string expected at index 2, got number%)")
    assert.error_matches(function() core.spawn({ "ls" }, { ["A=B"] = "x" }) end,
      "bad argument #2 to '[%w.]*spawn' %(bad environment name 'A=B'%)")
    assert.error_matches(function() core.spawn({ "ls" }, { A = true }) end,
      "bad argument #2 to '[%w.]*spawn' %(environment values must be strings or false%)")
    assert.error_matches(function() core.spawn({ "ls" }, { A = "x\0y" }) end,
      "bad argument #2 to '[%w.]*spawn' %(environment values may not contain '\\0'%)")
    assert.has_error(function() core.wait(0) end)
    assert.has_error(function() core.executable("x") end)
  end)

  it("names the executable of a process", function()
    local h = H.holder("idle")
    H.finally(finally, function() h.kill() end)
    assert.equal(H.BUILD .. "/helpers/holder", core.executable(h.pid))
    local self_pid = tonumber(H.read("/proc/self/stat"):match("^%d+"))
    local exe = core.executable(self_pid)
    assert.matches("lua", exe)
    h.kill()
    local ok, msg, code = core.executable(h.pid)
    assert.is_nil(ok)
    assert.equal(2, code)
    assert.matches("^ERROR_FILE_NOT_FOUND", msg)
  end)
end)

describe("rm.spawn_secondary", function()
  local rm, dir

  setup(function()
    rm = require "restartmanager"
  end)

  before_each(function()
    dir = H.tmpdir()
  end)

  after_each(function()
    H.sh("rm -rf " .. H.q(dir))
  end)

  -- a secondary installer: joins with the key it was handed, registers
  -- FILE, and writes where it found the key to OUT
  local function secondary(file, out)
    local script = dir .. "/secondary.lua"
    H.write(script, ([[
      package.path = %q .. package.path
      package.cpath = %q .. package.cpath
      local rm = require "restartmanager"
      local from_arg
      for _, a in ipairs(arg) do
        if a:sub(1, #rm.KEY_OPTION) == rm.KEY_OPTION then
          from_arg = a:sub(#rm.KEY_OPTION + 1)
        end
      end
      local env = os.getenv(rm.KEY_ENV)
      local f = assert(io.open(%q, "w"))
      f:write("arg=", tostring(from_arg), "\nenv=", tostring(env), "\n")
      local s = assert(rm.join())
      assert(s:register { files = { %q } })
      s:close()
      f:write("registered\n")
      f:close()
      os.exit(5)]]):format(H.ROOT .. "/lua/?.lua;" .. H.ROOT
        .. "/lua/?/init.lua;", H.BUILD .. "/?.so;", out, file))
    return { H.LUA, script }
  end

  it("hands the key both ways; the secondary's registration counts",
    function()
      local file, out = dir .. "/lib", dir .. "/out"
      H.write(file, "lib")
      local h = H.holder("open " .. H.q(file))
      H.finally(finally, function() h.kill() end)
      local s = assert(rm.start())
      H.finally(finally, function() s:close() end)
      local status, how = rm.spawn_secondary(secondary(file, out),
        { session = s, wait = true })
      assert.equal(5, status)
      assert.equal("exit", how)
      assert.equal("arg=" .. s.key .. "\nenv=" .. s.key .. "\nregistered\n",
        H.read(out))
      local apps = assert(s:list())
      assert.equal(1, #apps)
      assert.equal(h.pid, apps[1].pid)
    end)

  it("hands it through the environment only, or the argument only",
    function()
      local file, out = dir .. "/lib", dir .. "/out"
      H.write(file, "lib")
      local s = assert(rm.start())
      H.finally(finally, function() s:close() end)
      assert.equal(5, (s:spawn_secondary(secondary(file, out),
        { arg = false, wait = true })))
      assert.equal("arg=nil\nenv=" .. s.key .. "\nregistered\n", H.read(out))
      assert.equal(5, (rm.spawn_secondary(secondary(file, out),
        { key = s.key, env = false, wait = true })))
      assert.equal("arg=" .. s.key .. "\nenv=nil\nregistered\n", H.read(out))
    end)

  it("returns a process to wait for without wait", function()
    local s = assert(rm.start())
    H.finally(finally, function() s:close() end)
    local fifo = dir .. "/fifo"
    H.sh("mkfifo " .. H.q(fifo))
    -- blocks opening the fifo until this side opens it for writing
    local p = assert(s:spawn_secondary({ "sh", "-c", 'read x < "$1"; exit 3',
      "sh", fifo }))
    assert.is_true(math.type(p.pid) == "integer")
    assert.is_true(p:running())
    local w = assert(io.open(fifo, "w"))
    w:write("go\n")
    w:close()
    assert.same({ 3, "exit" }, { p:wait() })
    assert.is_false(p:running())
    assert.same({ 3, "exit" }, { p:wait() })
    assert.matches("exit 3", tostring(p))
  end)

  it("returns nil, message, code when the program cannot be started",
    function()
      local s = assert(rm.start())
      H.finally(finally, function() s:close() end)
      local ok, msg, code = s:spawn_secondary({ dir .. "/nothing" },
        { wait = true })
      assert.is_nil(ok)
      assert.equal(2, code)
      assert.matches("ERROR_FILE_NOT_FOUND", msg)
    end)

  it("raises on misuse", function()
    local s = assert(rm.start())
    H.finally(finally, function() s:close() end)
    assert.has_error(function() rm.spawn_secondary("ls", { session = s }) end,
      "bad argument #1 to 'spawn_secondary' (non-empty array of strings expected, got string)")
    assert.has_error(function() rm.spawn_secondary({}, { session = s }) end,
      "bad argument #1 to 'spawn_secondary' (non-empty array of strings expected, got an empty table)")
    assert.has_error(function() rm.spawn_secondary({ "ls", 1 }, { key = "k" }) end,
      "bad argument #1 to 'spawn_secondary' (string expected at index 2, got number)")
    assert.has_error(function() rm.spawn_secondary({ "ls" }) end,
      "bad argument #2 to 'spawn_secondary' (table expected, got nil)")
    assert.has_error(function() rm.spawn_secondary({ "ls" }, {}) end,
      "bad option 'key' (a session or a key is needed)")
    assert.has_error(function() rm.spawn_secondary({ "ls" }, { session = {} }) end,
      "bad option 'session' (restartmanager session expected, got table)")
    assert.has_error(function()
      rm.spawn_secondary({ "ls" }, { key = "k", env = false, arg = false })
    end, "the key would not be handed over: 'env' and 'arg' are both false")
    assert.has_error(function()
      rm.spawn_secondary({ "ls" }, { key = "k", wiat = true })
    end, "unknown option 'wiat'")
  end)
end)
