-- The Windows backend, cross-built with mingw-w64 and run under Wine against
-- Wine's own rstrtmgr.dll, whose functions are stubs: they report what they
-- received (WINEDEBUG=fixme+rstrtmgr) and return success without doing
-- anything. RmJoinSession has no body there at all.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local WIN64 = H.BUILD .. "/win64"
local WIN32 = H.BUILD .. "/win32"

-- Runs a Lua script with the Windows Lua under Wine, the rstrtmgr engine
-- chosen (left alone, the module picks its win32 engine under Wine); returns
-- its output (stdout and Wine's stderr together) and exit code.
local function wine_lua(code)
  local dir = H.tmpdir()
  local script = dir .. "/script.lua"
  H.write(script, code)
  local _, rc = H.sh("cd " .. H.q(dir) .. " && env WINEPREFIX="
    .. H.q(H.BUILD .. "/wine") .. " " .. W.LOCALE
    .. " WINEDEBUG=-all,fixme+rstrtmgr"
    .. " RESTARTMANAGER_ENGINE=rstrtmgr"
    .. " LUA_CPATH=" .. H.q("Z:" .. WIN64 .. "/?.dll")
    .. " LUA_PATH=" .. H.q("Z:" .. H.ROOT .. "/lua/?.lua;Z:" .. H.ROOT
      .. "/lua/?/init.lua")
    .. " wine " .. H.q(WIN64 .. "/lua.exe") .. " script.lua >out 2>&1")
  -- (into a file: a wineserver this run starts would hold a pipe open)
  local out = H.read(dir .. "/out") or ""
  H.sh("rm -rf " .. H.q(dir))
  -- Windows text mode writes CRLF
  return (out:gsub("\r\n", "\n")), rc
end

describe("windows backend under wine #wine", function()
  it("loads, names its backend and has the constants", function()
    local out, rc = wine_lua([[
      local core = require "restartmanager.core"
      print(core.backend, core._VERSION, core.error.ERROR_MORE_DATA,
        core.error[1219], core.app_type.critical)
    ]])
    assert.equal(0, rc, out)
    assert.matches("windows\t%d+%.%d+%.%d+\t234\t"
      .. "ERROR_SESSION_CREDENTIAL_CONFLICT\t1000", out)
  end)

  it("starts and ends a session through rstrtmgr.dll", function()
    local out, rc = wine_lua([[
      local core = require "restartmanager.core"
      local s, key = core.start_session()
      -- Wine's RmStartSession writes no key: the zero-filled buffer gives ""
      print("key=[" .. tostring(key) .. "]")
      print("open", tostring(s))
      print("end", s:end_session())
      print("again", s:end_session())
      print(tostring(s))
    ]])
    assert.equal(0, rc, out)
    -- what the stub received: a handle pointer, flags 0, a key buffer
    assert.matches("fixme:rstrtmgr:RmStartSession %x+, 0, %x+ stub!", out)
    -- the handle Wine handed back (0xdeadbeef) reached RmEndSession, once
    local _, ends = out:gsub("fixme:rstrtmgr:RmEndSession 3735928559 stub!",
      "")
    assert.equal(1, ends, out)
    assert.matches("key=%[%]", out)
    assert.matches("open\trestartmanager.Session %(primary, key %)", out)
    assert.matches("end\ttrue\nagain\ttrue\nrestartmanager.Session %(closed%)",
      out)
  end)

  it("ends a session on garbage collection and <close>", function()
    local out, rc = wine_lua([[
      local core = require "restartmanager.core"
      do local s <close> = core.start_session() end
      print("closed one")
      local s = core.start_session()
      s = nil
      collectgarbage() collectgarbage()
      print("collected one")
    ]])
    assert.equal(0, rc, out)
    local _, ends = out:gsub("RmEndSession 3735928559 stub!", "")
    assert.equal(2, ends, out)
  end)

  it("refuses invalid UTF-8 as an argument error before calling Windows",
    function()
      local out, rc = wine_lua([[
        local core = require "restartmanager.core"
        for _, key in ipairs { "\255\254", "\192\128", "\237\160\128",
            "abc\244\144\128\128" } do
          local ok, err = pcall(core.join_session, key)
          print(ok, err)
        end
      ]])
      assert.equal(0, rc, out)
      local _, n = out:gsub("false\tbad argument #1 to "
        .. "'restartmanager.core.join_session' %(string is not valid UTF%-8%)",
        "")
      assert.equal(4, n, out)
      assert.not_matches("RmJoinSession", out)
    end)

  -- The fixme lines Wine's stubs print for one function, without the
  -- thread prefix.
  local function traces(out, fn)
    local t = {}
    for line in out:gmatch("[^\n]+") do
      local rest = line:match("^%x+:fixme:rstrtmgr:" .. fn .. " (.*) stub!$")
      if rest then t[#t + 1] = rest end
    end
    return t
  end
  local PTR = "%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x"
  local NULL = ("0"):rep(16)

  it("lists nothing through Wine's RmGetList, reboot reasons 0", function()
    local res = W.run([[
      local core = require "restartmanager.core"
      local s = core.start_session()
      R.empty = { s:get_list() }
      R.some = { s:get_list(5) }
      s:end_session()
    ]], { debug = "-all,fixme+rstrtmgr" })
    assert.equal(0, res.rc, res.out)
    -- the stub writes neither entries nor reboot reasons: both come from
    -- the backend's initialisation
    assert.same({}, res.R.empty[1])
    assert.equal(0, res.R.empty[2])
    assert.same({}, res.R.some[1])
    assert.equal(0, res.R.some[2])
    local calls = traces(res.out, "RmGetList")
    assert.equal(2, #calls, res.out)
    -- handle, &needed, &count, the array (NULL for capacity 0), &reasons
    assert.matches("^%-559038737, " .. PTR .. ", " .. PTR .. ", " .. NULL
      .. ", " .. PTR .. "$", calls[1])
    assert.matches("^%-559038737, " .. PTR .. ", " .. PTR .. ", " .. PTR
      .. ", " .. PTR .. "$", calls[2])
    assert.not_matches(NULL, calls[2])
  end)

  it("passes registrations through to Wine's RmRegisterResources",
    function()
      local res = W.run([[
        local core = require "restartmanager.core"
        local s = core.start_session()
        R.a = s:register_resources({ "C:\\a", "C:\\b" },
          { { pid = 1, start_time = 2 } })
        R.b = s:register_resources(nil, nil, { "svc", "svc2", "svc3" })
        s:end_session()
      ]], { debug = "-all,fixme+rstrtmgr" })
      assert.equal(0, res.rc, res.out)
      assert.equal(true, res.R.a)
      assert.equal(true, res.R.b)
      local calls = traces(res.out, "RmRegisterResources")
      assert.equal(2, #calls, res.out)
      -- counts as given, and NULL exactly for the empty arrays
      assert.matches("^%-559038737, 2, " .. PTR .. ", 1, " .. PTR .. ", 0, "
        .. NULL .. "$", calls[1])
      assert.matches("^%-559038737, 0, " .. NULL .. ", 0, " .. NULL .. ", 3, "
        .. PTR .. "$", calls[2])
      assert.not_matches(", 2, " .. NULL, calls[1])
    end)

  it("passes flags, callbacks and filters through to Wine's stubs",
    function()
      local res = W.run([[
        local core = require "restartmanager.core"
        local s = core.start_session()
        R.calls = 0
        local function count() R.calls = R.calls + 1 end
        R.down = s:shutdown(core.shutdown.force
          | core.shutdown.only_registered, count)
        R.up = s:restart(count)
        R.file = s:add_filter("file", "C:\\\u{e9}\u{1F600}", "no_shutdown")
        R.proc = s:add_filter("process", { pid = 5, start_time = 6 },
          "no_restart")
        R.svc = s:remove_filter("service", "svc")
        s:end_session()
      ]], { debug = "-all,fixme+rstrtmgr" })
      assert.equal(0, res.rc, res.out)
      for _, k in ipairs { "down", "up", "file", "proc", "svc" } do
        assert.equal(true, res.R[k], k)
      end
      -- the stubs report no progress
      assert.equal(0, res.R.calls)
      -- handle, flags, the callback (never NULL: the backend's trampoline)
      local down = traces(res.out, "RmShutdown")
      assert.equal(1, #down, res.out)
      assert.matches("^3735928559, 0x00000011, " .. PTR .. "$", down[1])
      assert.not_matches(NULL, down[1])
      local up = traces(res.out, "RmRestart")
      assert.equal(1, #up, res.out)
      assert.matches("^3735928559, 0x00000000, " .. PTR .. "$", up[1])
      assert.not_matches(NULL, up[1])
      -- exactly one target each; Wine prints the path's UTF-16 units (é as
      -- \00e9, U+1F600 as the surrogate pair \d83d\de00)
      local adds = traces(res.out, "RmAddFilter")
      assert.equal(2, #adds, res.out)
      assert.equal([[3735928559, L"C:\\\00e9\d83d\de00" ]] .. NULL
        .. " (null) 0x00000002", adds[1])
      assert.matches("^3735928559, %(null%) " .. PTR
        .. " %(null%) 0x00000001$", adds[2])
      assert.not_matches(NULL, adds[2])
      assert.same({ "3735928559, (null) " .. NULL .. ' L"svc"' },
        traces(res.out, "RmRemoveFilter"))
    end)

  it("reports Wine's version in backend_info", function()
    local res = W.run([[
      local core = require "restartmanager.core"
      R.info = core.backend_info()
    ]])
    assert.equal(0, res.rc, res.out)
    assert.equal("windows", res.R.info.backend)
    assert.equal("rstrtmgr", res.R.info.engine)
    assert.is_string(res.R.info.wine)
    assert.matches("^%d+%.%d+", res.R.info.wine)
    local version = H.sh("wine --version 2>/dev/null")
    assert.truthy(version:find("wine-" .. res.R.info.wine, 1, true), version)
  end)

  it("aborts in the functions Wine's rstrtmgr has no body for", function()
    -- RmJoinSession, RmCancelCurrentTask and RmGetFilterList are exported
    -- by Wine as stubs that end the process: the specs never call them
    -- against Wine's DLL except here, to show that
    for _, call in ipairs {
      "core.join_session(('0'):rep(32))",
      "core.start_session():cancel()",
      "core.start_session():get_filter_list()",
    } do
      local fn = call:match("join") and "RmJoinSession"
        or call:match("cancel") and "RmCancelCurrentTask" or "RmGetFilterList"
      local res = W.run([[
        local core = require "restartmanager.core"
        io.stdout:write("before\n") io.stdout:flush()
        ]] .. call .. [[

        io.stdout:write("after\n")
      ]])
      -- (the exit code is whatever Wine's debugger leaves: not checked)
      assert.matches("before\n", res.out)
      assert.not_matches("after\n", res.out)
      assert.matches("unimplemented function rstrtmgr%.dll%." .. fn, res.out)
    end
  end)

  it("builds the i686 module with the export Lua looks for", function()
    local out = H.sh("x86_64-w64-mingw32-objdump -p " .. H.q(WIN32
      .. "/restartmanager/core.dll"))
    assert.matches("file format pei%-i386", out)
    assert.matches("luaopen_restartmanager_core", out)
    assert.matches("dll name: rstrtmgr%.dll", out:lower())
    assert.matches("dll name: lua54%.dll", out:lower())
    local out64 = H.sh("x86_64-w64-mingw32-objdump -p " .. H.q(WIN64
      .. "/restartmanager/core.dll"))
    assert.matches("file format pei%-x86%-64", out64)
    assert.matches("luaopen_restartmanager_core", out64)
  end)
end)
