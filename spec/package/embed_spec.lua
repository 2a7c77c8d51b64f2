-- Embedding: the static library (build/librestartmanager.a, `make static`)
-- carries the C core and the Lua layer; the example hosts (examples/host.c,
-- examples/host.cpp, and host.c built for Windows) link it with the Lua
-- library alone and run with no file of the library on disk: LUA_PATH and
-- LUA_CPATH are set to nothing.
local H = require "spec.helpers"

-- the plain build's artifacts, also in the sanitized run (RM_BUILD there is
-- build/asan, which has no static library)
local BUILD = H.ROOT .. "/build"

-- The global symbols an archive defines (nm), as a list of names.
local function defined_globals(nm, archive)
  local out, rc = H.sh(nm .. " -g --defined-only " .. H.q(archive) .. " 2>&1")
  assert.equal(0, rc, out)
  local names = {}
  for name in out:gmatch("\n?%x+ %a ([^\n]+)") do names[#names + 1] = name end
  return names
end

-- Those of names outside the project's prefix and the public openers.
-- strip: a function that maps a name to the one the C source gave it.
local function foreign(names, strip)
  local bad = {}
  for _, n in ipairs(names) do
    local c = strip and strip(n) or n
    if not (c:match("^rm_") or c == "luaopen_restartmanager"
        or c == "luaopen_restartmanager_core") then
      bad[#bad + 1] = n
    end
  end
  return bad
end

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- The Lua files of the layer, as module name -> path relative to lua/.
local function layer_files()
  local out = H.sh("cd " .. H.q(H.ROOT .. "/lua") .. " && find restartmanager -name '*.lua' | sort")
  local files = {}
  for rel in out:gmatch("[^\n]+") do
    local name = rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    files[name] = rel
  end
  return files
end

-- A script the hosts read from standard input: the library must come from
-- inside the program (no path to search, the layer's functions compiled
-- from the built-in chunks), and it lists who uses arg[1].
local WHO_USES = [[
local rm = require "restartmanager"
assert(package.path == "" and package.cpath == "", "the paths are not empty")
assert(package.loaded["restartmanager.core"] == rm.core)
local src = debug.getinfo(rm.update, "S").source
assert(src:match("^=restartmanager/[%w_/]+%.lua$"), src)
assert(type(require("restartmanager.cli").main) == "function")
assert(type(require("restartmanager.policy")) == "table")
local apps = assert(rm.who_uses { arg[1] })
for _, app in ipairs(apps) do print("uses", app.pid, app.name) end
print("done", rm.core.backend)
]]

describe("embedding", function()
  local fx
  before_each(function() fx = H.scratch { fifo = true } end)
  after_each(function() fx.cleanup() end)

  it("the static library defines no global symbol outside rm_ and the openers",
    function()
      local names = defined_globals("nm", BUILD .. "/librestartmanager.a")
      assert.is_true(contains(names, "luaopen_restartmanager"))
      assert.is_true(contains(names, "luaopen_restartmanager_core"))
      assert.is_true(#names > 10, table.concat(names, " "))
      assert.same({}, foreign(names))
    end)

  it("carries every module of lua/ byte for byte, generated at build time",
    function()
      local header = assert(H.read(BUILD .. "/embed/rm_embedded.h"),
        "make static first")
      local arrays = {}
      for id, body in header:gmatch("rm_embedded_(%d+)%[%d+%] = {(.-)};") do
        local bytes = {}
        for b in body:gmatch("%d+") do bytes[#bytes + 1] = string.char(tonumber(b)) end
        arrays[id] = table.concat(bytes)
      end
      local embedded = {}
      for name, chunk, id, size in
          header:gmatch('{"([%w_.]+)", "=([^"]+)", rm_embedded_(%d+), (%d+)}') do
        embedded[name] = { chunk = chunk, source = arrays[id]:sub(1, tonumber(size)) }
      end
      local files = layer_files()
      assert.is_not_nil(files["restartmanager"])
      assert.is_not_nil(files["restartmanager.cli"])
      local names, want = {}, {}
      for name in pairs(embedded) do names[#names + 1] = name end
      for name in pairs(files) do want[#want + 1] = name end
      table.sort(names)
      table.sort(want)
      assert.same(want, names)
      for name, rel in pairs(files) do
        assert.equal(rel, embedded[name].chunk)
        assert.is_true(H.read(H.ROOT .. "/lua/" .. rel) == embedded[name].source,
          name .. " differs from lua/" .. rel)
      end
      -- generated, never part of the sources
      local _, rc = H.sh("git -C " .. H.q(H.ROOT) .. " rev-parse 2>/dev/null")
      if rc == 0 then
        local tracked = H.sh("git -C " .. H.q(H.ROOT) .. " ls-files build src | grep rm_embedded")
        assert.equal("", tracked)
      end
    end)

  for _, host in ipairs { "host", "host-cpp" } do
    local exe = BUILD .. "/examples/" .. host

    describe(host, function()
      it("finds the process that holds a file, with no Lua file on the paths",
        function()
          local f = fx.file("held.dat")
          local h = fx.holder("open " .. H.q(f))
          local out, rc = H.sh("cd / && printf '%s' " .. H.q(WHO_USES)
            .. " | env LUA_PATH= LUA_CPATH= " .. H.q(exe) .. " - " .. H.q(f)
            .. " 2>&1")
          assert.equal(0, rc, out)
          assert.matches("\nuses\t" .. h.pid .. "\tholder\n", "\n" .. out)
          assert.matches("done\tlinux\n$", out)
        end)

      it("runs the primary and secondary installers, each in the host",
        function()
          local core = require "restartmanager.core"
          local lua = core.executable(tonumber(H.read("/proc/self/stat"):match("^%d+")))
          local app = fx.dir .. "/bin/app"
          local library = fx.dir .. "/greeting.txt"
          local log = fx.dir .. "/app.log"
          H.sh("mkdir -p " .. H.q(fx.dir .. "/bin") .. " && cp " .. H.q(lua)
            .. " " .. H.q(app))
          H.write(library, "version 1\n")
          H.write(library .. ".new", "version 2\n")
          fx.track(H.start("env " .. H.lua_env() .. " " .. H.q(app) .. " "
            .. H.q(H.ROOT .. "/examples/app.lua") .. " " .. H.q(library) .. " "
            .. H.q(log) .. " " .. H.q(fx.fifo)))
          local first = H.wait_app_starts(log, 1)[1]
          local out, rc = H.sh("env LUA_PATH= LUA_CPATH= " .. H.q(exe) .. " "
            .. H.q(H.ROOT .. "/examples/primary.lua") .. " " .. H.q(app) .. " "
            .. H.q(library) .. " 2>&1")
          assert.equal(0, rc, out)
          -- the secondary ran in the same host, also with empty paths
          assert.matches("%[primary%] starting the secondary installer: "
            .. exe:gsub("%p", "%%%0") .. " ", out)
          assert.matches("%[secondary%] registered the library ", out)
          assert.matches("%[primary%] restarted the applications\n", out)
          assert.is_true(H.gone(first.pid))
          local second = H.wait_app_starts(log, 2)[2]
          assert.not_equal(first.pid, second.pid)
          assert.equal("version 2\n", H.read(library))
        end)
    end)
  end
end)

describe("embedding on Windows #wine", function()
  local W = require "spec.helpers.wine"

  -- mingw-w64 decorates: i686 names start with "_", and x86_64 objects that
  -- refer to data define ".refptr.NAME" for it
  local function undecorated(n)
    return (n:gsub("^%.refptr%.", ""):gsub("^_", ""))
  end

  for _, t in ipairs { { "win64", "x86_64-w64-mingw32" },
                       { "win32", "i686-w64-mingw32" } } do
    it(t[1] .. " static library: no global symbol outside rm_ and the openers",
      function()
        local names = defined_globals(t[2] .. "-nm",
          BUILD .. "/" .. t[1] .. "/librestartmanager.a")
        local plain = {}
        for _, n in ipairs(names) do plain[#plain + 1] = undecorated(n) end
        assert.is_true(contains(plain, "luaopen_restartmanager"))
        assert.is_true(contains(plain, "luaopen_restartmanager_core"))
        assert.same({}, foreign(names, undecorated))
      end)
  end

  -- host.exe beside lua54.dll, run under Wine with empty Lua paths, on the
  -- file at the Linux path held. The engine is the module's choice (the
  -- win32 engine under Wine); with standin = true it is rstrtmgr.dll, the
  -- TEST STAND-IN (scripted answers, not Microsoft's DLL and not Wine's)
  -- placed beside host.exe.
  local function run_host(script, held, scenario, standin)
    local dir = H.tmpdir()
    H.sh("cp " .. H.q(BUILD .. "/win64/host.exe") .. " " .. H.q(BUILD
      .. "/win64/lua54.dll") .. " " .. H.q(dir))
    if standin then
      H.sh("cp " .. H.q(W.STANDIN .. "/rstrtmgr.dll") .. " " .. H.q(dir))
    end
    H.write(dir .. "/script.lua", script)
    H.write(dir .. "/scenario", scenario or "")
    local _, rc = H.sh("cd " .. H.q(dir) .. " && env WINEPREFIX="
      .. H.q(H.BUILD .. "/wine") .. " " .. W.LOCALE
      .. " WINEDEBUG=-all LUA_PATH= LUA_CPATH= "
      .. (standin and "WINEDLLOVERRIDES=rstrtmgr=n RESTARTMANAGER_ENGINE=rstrtmgr " or "")
      .. "RM_STANDIN_SCENARIO=" .. H.q(W.winpath(dir .. "/scenario"))
      .. " RM_STANDIN_LOG=" .. H.q(W.winpath(dir .. "/log"))
      .. " wine host.exe script.lua " .. H.q(W.winpath(held))
      .. " >out 2>&1 </dev/null")
    local out = (H.read(dir .. "/out") or ""):gsub("\r\n", "\n")
    local log = (H.read(dir .. "/log") or ""):gsub("\r\n", "\n")
    H.sh("rm -rf " .. H.q(dir))
    return out, rc, log
  end

  local SCRIPT = [[
local rm = require "restartmanager"
assert(package.path == "" and package.cpath == "", "the paths are not empty")
local src = debug.getinfo(rm.update, "S").source
assert(src:match("^=restartmanager/[%w_/]+%.lua$"), src)
assert(type(require("restartmanager.cli").main) == "function")
print("backend", rm.core.backend, rm.core.backend_info().wine ~= false)
local apps = assert(rm.who_uses { arg[1] })
for _, app in ipairs(apps) do print("uses", app.pid, app.name) end
print("done", #apps)
]]

  it("the Windows host finds the Windows program that holds a file",
    function()
      local fx = H.scratch()
      H.finally(finally, fx.cleanup)
      local held = fx.file("held.dat")
      local h = fx.track(W.holder("exclusive", held))
      local out, rc = run_host(SCRIPT, held)
      assert.equal(0, rc, out)
      assert.matches("backend\twindows\ttrue\n", out)
      assert.matches("\nuses\t" .. h.winpid .. "\twinholder%.exe\n", out)
      assert.matches("done\t1\n$", out)
    end)

  it("the Windows host passes the list through (TEST STAND-IN rstrtmgr.dll)",
    function()
      local fx = H.scratch()
      H.finally(finally, fx.cleanup)
      local held = fx.file("held.dat")
      local scenario = "reasons 0\napp 4242 77 1 1 1 1 " .. W.u16("Game.exe")
        .. " -\n"
      local out, rc, log = run_host(SCRIPT, held, scenario, true)
      assert.equal(0, rc, out)
      assert.matches("uses\t4242\tGame.exe\n", out)
      assert.matches("done\t1\n$", out)
      -- the file went to RmRegisterResources as its Windows path
      assert.matches("\nfile 0 " .. W.u16(W.winpath(held)) .. "\n", "\n" .. log)
    end)
end)
