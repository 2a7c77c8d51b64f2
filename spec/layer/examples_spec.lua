-- The examples: the primary installer (examples/primary.lua) with its
-- secondary (examples/secondary.lua) updating a real application
-- (examples/app.lua), and the demo that `make demo` runs.
local H = require "spec.helpers"

describe("examples", function()
  local core
  local dir, fifo, children, lua

  setup(function()
    core = require "restartmanager.core"
    lua = core.executable(tonumber(H.read("/proc/self/stat"):match("^%d+")))
  end)

  local fx
  before_each(function()
    fx = H.scratch { fifo = true }
    dir, fifo, children = fx.dir, fx.fifo, fx.children
  end)

  after_each(function() fx.cleanup() end)

  local function started(log, n)
    return H.wait_for(function()
      local lines = {}
      for line in (H.read(log) or ""):gmatch("[^\n]+") do
        lines[#lines + 1] = { pid = tonumber(line:match("pid=(%d+)")),
          library = line:match("library=(.*)$") }
      end
      return #lines >= n and lines
    end, function()
      return "the app to start " .. n .. " times: " .. (H.read(log) or "")
    end)
  end

  local gone = H.gone


  -- examples/app.lua run by its own executable (a copy of the interpreter)
  local function app()
    local exe = dir .. "/bin/app"
    local library = dir .. "/greeting.txt"
    local log = dir .. "/app.log"
    H.sh("mkdir -p " .. H.q(dir .. "/bin") .. " && cp " .. H.q(lua) .. " "
      .. H.q(exe))
    H.write(library, "version 1\n")
    H.write(library .. ".new", "version 2\n")
    children[#children + 1] = H.start("env " .. H.lua_env() .. " " .. H.q(exe)
      .. " " .. H.q(H.ROOT .. "/examples/app.lua") .. " " .. H.q(library)
      .. " " .. H.q(log) .. " " .. H.q(fifo))
    return exe, library, log, started(log, 1)[1]
  end

  local function run_example(name, args)
    return H.sh("env " .. H.lua_env() .. " " .. H.LUA .. " "
      .. H.q(H.ROOT .. "/examples/" .. name) .. " " .. args .. " 2>&1")
  end

  -- the lines of out, in order, must include every pattern of want, in
  -- that order
  local function in_order(out, want)
    local pos = 1
    for _, pattern in ipairs(want) do
      local s, e = out:find(pattern, pos)
      assert(s, ("%q not found (in order) in:\n%s"):format(pattern, out))
      pos = e + 1
    end
  end

  it("the primary and its secondary update a running application", function()
    local exe, library, log, first = app()
    local out, rc = run_example("primary.lua", H.q(exe) .. " " .. H.q(library))
    assert.equal(0, rc, out)
    local key = out:match("%[primary%] started session (%x+)\n")
    assert.equal(32, #key)
    in_order(out, {
      "%[primary%] started session " .. key .. "\n",
      "%[primary%] starting the secondary installer: ",
      "%[secondary%] joined session " .. key .. "\n",
      "%[secondary%] registered the library " .. library:gsub("%p", "%%%0") .. "\n",
      "%[secondary%] left the session\n",
      "%[primary%] the secondary installer is done\n",
      "%[primary%] registered the executable " .. exe:gsub("%p", "%%%0") .. "\n",
      "%[primary%] the list needs room for 1, asking again\n",
      "%[primary%] 1 application uses the files:\n",
      "%[primary%]   pid " .. first.pid .. "  app  %(%a+, registered for restart%)\n",
      "%[primary%] no reboot needed\n",
      "%[primary%] shut them down\n",
      "%[primary%] installed ",
      "%[primary%] restarted the applications\n",
      "%[primary%] ended the session\n",
    })
    assert.is_true(gone(first.pid))
    local second = started(log, 2)[2]
    assert.not_equal(first.pid, second.pid)
    assert.equal("version 2", second.library)
    assert.equal(exe, core.executable(second.pid))
    assert.equal("version 2\n", H.read(library))
    assert.same({}, H.store_keys())
  end)

  it("the primary and secondary run in a C host with the core linked in",
    function()
      local host = H.ROOT .. "/build/examples/host"
      if not H.read(host) then
        pending("make build/examples/host first")
        return
      end
      local exe, library, log, first = app()
      -- no core.so anywhere on the C path: the host's own core answers
      local out, rc = H.sh("env LUA_PATH=" .. H.q(H.ROOT .. "/lua/?.lua;"
        .. H.ROOT .. "/lua/?/init.lua;;") .. " LUA_CPATH=" .. H.q(dir
        .. "/nothing/?.so") .. " " .. H.q(host) .. " "
        .. H.q(H.ROOT .. "/examples/primary.lua") .. " " .. H.q(exe) .. " "
        .. H.q(library) .. " 2>&1")
      assert.equal(0, rc, out)
      in_order(out, {
        "%[primary%] starting the secondary installer: "
          .. host:gsub("%p", "%%%0") .. " ",
        "%[secondary%] registered the library ",
        "%[primary%] restarted the applications\n",
      })
      assert.is_true(gone(first.pid))
      assert.equal("version 2", started(log, 2)[2].library)
    end)

  it("the primary changes nothing when a reboot would be needed", function()
    local _, library, log, first = app()
    -- the interpreter that runs the primary is the executable: the primary
    -- would have to stop itself
    local out, rc = run_example("primary.lua", H.q(lua) .. " " .. H.q(library))
    assert.equal(3, rc, out)
    assert.matches("%[primary%] a reboot would be needed %([%w_, ]*detected_self"
      .. "[%w_, ]*%); nothing was changed\n", out)
    assert.is_nil(out:find("shut them down", 1, true))
    assert.is_true(H.untouched(first.pid))
    assert.equal(1, #started(log, 1))
    assert.equal("version 1\n", H.read(library))
    assert.same({}, H.store_keys())
  end)

  it("the secondary needs a key and a session", function()
    local out, rc = H.sh("env -u RESTARTMANAGER_KEY " .. H.lua_env() .. " "
      .. H.LUA .. " " .. H.q(H.ROOT .. "/examples/secondary.lua") .. " "
      .. H.q(dir .. "/lib") .. " 2>&1")
    assert.equal(2, rc)
    assert.matches("^usage: secondary.lua LIBRARY", out)
    out, rc = run_example("secondary.lua", H.q(dir .. "/lib")
      .. " --restartmanager-key=" .. ("0"):rep(32))
    assert.equal(1, rc)
    assert.matches("%[secondary%] cannot join the session: "
      .. "ERROR_SESSION_CREDENTIAL_CONFLICT %(1219%)", out)
  end)

  it("the demo (make demo) ends with the application back on the new file",
    function()
      local out, rc = H.sh("cd " .. H.q(H.ROOT) .. " && env " .. H.lua_env()
        .. " " .. H.LUA .. " examples/demo.lua 2>&1")
      assert.equal(0, rc, out)
      local first = tonumber(out:match("%[demo%] the application runs: pid (%d+), "
        .. "it reads \"version 1\"\n"))
      assert.truthy(first, out)
      local second, was = out:match("%[demo%] the application runs again: pid "
        .. "(%d+) %(was (%d+)%), it reads \"version 2\"\n")
      assert.truthy(second, out)
      assert.equal(first, tonumber(was))
      assert.not_equal(first, tonumber(second))
      in_order(out, {
        "%[demo%] setting up the application in /",
        "%[demo%] running the primary installer: ",
        "%[primary%] started session %x+\n",
        "%[secondary%] joined session %x+\n",
        "%[secondary%] registered the library ",
        "%[primary%] registered the executable ",
        "%[primary%]   pid " .. first .. "  demo%-app ",
        "%[primary%] shut them down\n",
        "%[primary%] restarted the applications\n",
        "%[demo%] the primary installer ended: exit 0\n",
        "%[demo%] the first instance %(pid " .. first .. "%) ended: signal 15",
        "%[demo%]   pid " .. second .. " runs .-/bin/demo%-app: yes\n",
        "%[demo%] stopped the application %(pid " .. second .. "%)",
        "%[demo%] removed /",
        "%[demo%] done: the application was updated and restarted\n",
      })
      -- cleaned up: the application is gone, and so is its directory
      assert.is_true(gone(tonumber(second)))
      local tmp = out:match("%[demo%] removed (%S+)\n")
      assert.is_nil(H.read(tmp .. "/share/greeting.txt"))
      assert.same({}, H.store_keys())
    end)
end)
