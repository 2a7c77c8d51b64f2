-- The Windows backend, cross-built with mingw-w64 and run under Wine against
-- Wine's own rstrtmgr.dll, whose functions are stubs: they report what they
-- received (WINEDEBUG=fixme+rstrtmgr) and return success without doing
-- anything. RmJoinSession has no body there at all.
local H = require "spec.helpers"

local WIN64 = H.BUILD .. "/win64"
local WIN32 = H.BUILD .. "/win32"

-- Runs a Lua script with the Windows Lua under Wine; returns its output
-- (stdout and Wine's stderr together) and exit code.
local function wine_lua(code)
  local dir = H.tmpdir()
  local script = dir .. "/script.lua"
  H.write(script, code)
  local out, rc = H.sh("cd " .. H.q(dir) .. " && env WINEPREFIX="
    .. H.q(H.BUILD .. "/wine") .. " WINEDEBUG=-all,fixme+rstrtmgr"
    .. " LUA_CPATH=" .. H.q("Z:" .. WIN64 .. "/?.dll")
    .. " LUA_PATH=" .. H.q("Z:" .. H.ROOT .. "/lua/?.lua;Z:" .. H.ROOT
      .. "/lua/?/init.lua")
    .. " wine " .. H.q(WIN64 .. "/lua.exe") .. " script.lua 2>&1")
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
