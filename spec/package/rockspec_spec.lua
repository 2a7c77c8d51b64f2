-- The rockspecs through LuaRocks, in a fresh copy of the project and a
-- private tree: lint, make, test and pack, the installed module and command,
-- and the symbols of the rock's core.so.
--
-- No rock is downloaded: the command-line tool's dependencies (argparse,
-- dkjson) come from Debian (lua-argparse, lua-dkjson), declared to LuaRocks
-- as provided by the system (rocks_provided), as a Debian user would.
local H = require "spec.helpers"

local ROCKSPECS = H.ROOT .. "/rockspec"
local SCM = "restartmanager-scm-1.rockspec"

-- The release rockspec: the one that is not scm.
local function release_name()
  local out = H.sh("ls " .. H.q(ROCKSPECS))
  for name in out:gmatch("[^\n]+") do
    if name:match("^restartmanager%-%d[%w.]*%-%d+%.rockspec$") then return name end
  end
end

-- A rockspec's table.
local function load_rockspec(path)
  local env = {}
  assert(loadfile(path, "t", env))()
  return env
end

-- A copy of the project without its build.
local function fresh_copy(into)
  local _, rc = H.sh("mkdir -p " .. H.q(into) .. " && tar -C " .. H.q(H.ROOT)
    .. " --exclude=./build --exclude=./.git -cf - . | tar -C " .. H.q(into)
    .. " -xf -")
  assert.equal(0, rc)
end

describe("rockspecs", function()
  local release = release_name()

  it("there is a release rockspec of the core's version and a dev one",
    function()
      assert.is_string(release, "no release rockspec in rockspec/")
      assert.is_not_nil(H.read(ROCKSPECS .. "/" .. SCM))
      local core = require "restartmanager.core"
      assert.equal("restartmanager-" .. core._VERSION .. "-1.rockspec", release)
    end)

  it("pass luarocks lint", function()
    for _, name in ipairs { SCM, release } do
      local out, rc = H.sh("luarocks --lua-version=5.4 lint "
        .. H.q(ROCKSPECS .. "/" .. name) .. " 2>&1")
      assert.equal(0, rc, name .. ": " .. out)
    end
  end)

  it("agree but for version and source, and list every module", function()
    local scm = load_rockspec(ROCKSPECS .. "/" .. SCM)
    local rel = load_rockspec(ROCKSPECS .. "/" .. release)
    assert.equal("scm-1", scm.version)
    assert.is_string(scm.source.branch)
    assert.equal("v" .. rel.version:gsub("%-%d+$", ""), rel.source.tag)
    assert.equal(scm.source.url, rel.source.url)
    for _, k in ipairs { "version", "source" } do scm[k], rel[k] = nil, nil end
    assert.same(scm, rel)
    assert.same({ "linux", "windows" }, scm.supported_platforms)
    assert.same({ type = "command", command = "make test-native" }, scm.test)
    -- every Lua file of the layer, under its module name
    local want = {}
    local out = H.sh("cd " .. H.q(H.ROOT .. "/lua") .. " && find restartmanager -name '*.lua'")
    for rel_path in out:gmatch("[^\n]+") do
      local name = rel_path:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      want[name] = "lua/" .. rel_path
    end
    assert.same(want, scm.build.modules)
    -- every C source of each backend
    local function sources(dirs)
      local t = {}
      for _, d in ipairs(dirs) do
        for f in H.sh("cd " .. H.q(H.ROOT) .. " && ls " .. d .. "/*.c"):gmatch("[^\n]+") do
          t[#t + 1] = f
        end
      end
      table.sort(t)
      return t
    end
    local linux = scm.build.platforms.linux.modules["restartmanager.core"]
    local windows = scm.build.platforms.windows.modules["restartmanager.core"]
    local l, w = { table.unpack(linux.sources) }, { table.unpack(windows.sources) }
    table.sort(l)
    table.sort(w)
    assert.same(sources { "src", "src/native" }, l)
    assert.same(sources { "src", "src/windows" }, w)
    -- the Windows build has no include folder: src/restartmanager.h would
    -- hide the SDK's RestartManager.h
    assert.is_nil(windows.incdirs)
  end)

  it("the Windows sources build as the rock builds them, without -Isrc #wine",
    function()
      -- mingw-w64 with Lua's headers and nothing else, as LuaRocks' builtin
      -- build does with the rockspec's Windows module
      local scm = load_rockspec(ROCKSPECS .. "/" .. SCM)
      local windows = scm.build.platforms.windows.modules["restartmanager.core"]
      local lua_inc = H.ROOT .. "/build/lua-src/src"
      assert.is_not_nil(H.read(lua_inc .. "/lua.h"), "make windows first")
      local dir = H.tmpdir()
      H.finally(finally, function() H.sh("rm -rf " .. H.q(dir)) end)
      local objects = {}
      for i, src in ipairs(windows.sources) do
        local obj = dir .. "/" .. i .. ".o"
        local out, rc = H.sh("cd " .. H.q(H.ROOT) .. " && x86_64-w64-mingw32-gcc -O2 -c -I"
          .. H.q(lua_inc) .. " -o " .. H.q(obj) .. " " .. H.q(src) .. " 2>&1")
        assert.equal(0, rc, src .. ": " .. out)
        objects[#objects + 1] = H.q(obj)
      end
      local libs = {}
      for _, l in ipairs(windows.libraries) do libs[#libs + 1] = "-l" .. l end
      local out, rc = H.sh("x86_64-w64-mingw32-gcc -shared -o " .. H.q(dir .. "/core.dll")
        .. " " .. table.concat(objects, " ") .. " " .. H.q(H.ROOT .. "/build/win64/lua54.dll")
        .. " " .. table.concat(libs, " ") .. " 2>&1")
      assert.equal(0, rc, out)
      out = H.sh("x86_64-w64-mingw32-objdump -p " .. H.q(dir .. "/core.dll"))
      local exports = out:match("%[Ordinal/Name Pointer%] Table\n(.-)\n\n")
      assert.is_string(exports, out)
      assert.equal("luaopen_restartmanager_core", exports:match("^%s*%[%s*0%] (%S+)%s*$"))
    end)

  describe("in a fresh tree", function()
    local work, tree, config, deps
    -- LuaRocks as a user runs it: none of the specs' own environment (the
    -- sanitized run's, say) reaches the build or `luarocks test`
    local CLEAN = "env -u LUA_PATH -u LUA_CPATH -u RM_ROOT -u RM_BUILD -u RM_LUA"
      .. " -u RM_SANITIZED -u ASAN_OPTIONS -u UBSAN_OPTIONS"
    local function luarocks(args, env)
      return H.sh("cd " .. H.q(work) .. " && " .. CLEAN .. " LUAROCKS_CONFIG="
        .. H.q(config) .. " " .. (env or "") .. " luarocks --lua-version=5.4 "
        .. args .. " 2>&1")
    end

    setup(function()
      work = H.tmpdir()
      tree = H.tmpdir()
      deps = H.tmpdir()
      config = work .. ".config.lua"
      fresh_copy(work)
      local scm = load_rockspec(ROCKSPECS .. "/" .. SCM)
      -- the Debian packages' versions of the declared dependencies
      local provided = {}
      for _, d in ipairs(scm.dependencies) do
        local name = d:match("^(%S+)")
        if name ~= "lua" then
          local pkg = H.sh("dpkg-query -W -f='${Version}' lua-" .. name)
          provided[#provided + 1] = ("%s = %q"):format(name,
            pkg:match("^([%d.]+)") .. "-1")
          H.sh("cp /usr/share/lua/5.4/" .. name .. ".lua " .. H.q(deps))
        end
      end
      H.write(config, ("rocks_trees = { %q }\nrocks_provided = { %s }\n")
        :format(tree, table.concat(provided, ", ")))
    end)

    teardown(function()
      H.sh("rm -rf " .. H.q(work) .. " " .. H.q(tree) .. " " .. H.q(deps)
        .. " " .. H.q(config))
    end)

    it("luarocks make installs the module, the command and only the opener",
      function()
        local out, rc = luarocks("make --tree " .. H.q(tree) .. " rockspec/" .. SCM)
        assert.equal(0, rc, out)
        assert.matches("restartmanager scm%-1 is now installed", out)
        local so = tree .. "/lib/lua/5.4/restartmanager/core.so"
        out, rc = H.sh("nm -D --defined-only " .. H.q(so) .. " | awk '{print $3}'")
        assert.equal(0, rc)
        assert.equal("luaopen_restartmanager_core\n", out)
        out, rc = H.sh("cd / && env LUA_PATH=" .. H.q(tree
          .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua")
          .. " LUA_CPATH=" .. H.q(tree .. "/lib/lua/5.4/?.so") .. " " .. H.LUA
          .. [[ -e 'local rm = require "restartmanager"
            local s = assert(rm.start())
            print(rm.core.backend, #s.key, package.searchpath("restartmanager.core", package.cpath))
            s:close()' 2>&1]])
        assert.equal(0, rc, out)
        assert.equal("linux\t32\t" .. tree .. "/lib/lua/5.4/restartmanager/core.so\n",
          out)
      end)

    it("the installed command runs with the declared dependencies alone",
      function()
        local fx = H.scratch()
        H.finally(finally, fx.cleanup)
        local f = fx.file("held")
        local h = fx.holder("open " .. H.q(f))
        -- Lua finds argparse and dkjson and nothing else: no lua-term,
        -- luasystem or cjson, no C module outside the tree
        local cmd = "cd / && env LUA_PATH=" .. H.q(deps .. "/?.lua")
          .. " LUA_CPATH= " .. H.q(tree .. "/bin/restartmanager")
        local out, rc = H.sh(cmd .. " --version 2>&1")
        assert.equal(0, rc, out)
        assert.matches("^restartmanager %d+%.%d+%.%d+ %(linux backend%)\n$", out)
        out, rc = H.sh(cmd .. " list --json " .. H.q(f) .. " 2>&1")
        assert.equal(0, rc, out)
        assert.matches('"pid":' .. h.pid .. "[,}]", out)
      end)

    it("luarocks test runs the specs that need no Wine", function()
      if os.getenv("RM_IN_ROCK_TEST") then
        pending("this run is luarocks test's own")
        return
      end
      -- make test-native in the copy, on one folder of specs (the whole
      -- native run would start this spec again; RM_IN_ROCK_TEST stops that
      -- should the selection be lost)
      local out, rc = luarocks("test rockspec/" .. SCM .. " -- SPECS=spec/core",
        "RM_IN_ROCK_TEST=1")
      assert.equal(0, rc, out)
      local n = tonumber(out:match("\n(%d+) successes / 0 failures / 0 errors"))
      assert.is_true(n and n > 0, out)
    end)

    it("luarocks pack makes a binary rock and source rocks of both rockspecs",
      function()
        local out, rc = luarocks("pack --tree " .. H.q(tree) .. " restartmanager scm-1")
        assert.equal(0, rc, out)
        local rock = out:match("Packed: (%S+%.rock)")
        assert.matches("/restartmanager%-scm%-1%.[%w_-]+%.rock$", rock)
        local list = H.sh("unzip -l " .. H.q(rock))
        assert.matches("lib/restartmanager/core%.so", list)
        assert.matches("bin/restartmanager", list)
        -- a source rock fetches the source: a git repository of the copy
        -- stands for the placeholder URL, tagged as the release says
        local repo = work .. "/repo/restartmanager"
        local rel = load_rockspec(ROCKSPECS .. "/" .. release)
        out, rc = H.sh("mkdir -p " .. H.q(repo) .. " && cd " .. H.q(work)
          .. " && tar --exclude=./repo -cf - . | tar -C " .. H.q(repo) .. " -xf - && cd "
          .. H.q(repo) .. " && git init -q -b main && git add -A && git -c user.name=t"
          .. " -c user.email=t@example.org commit -qm release && git tag "
          .. rel.source.tag .. " 2>&1")
        assert.equal(0, rc, out)
        for _, name in ipairs { SCM, release } do
          local text = assert(H.read(ROCKSPECS .. "/" .. name))
          local url = load_rockspec(ROCKSPECS .. "/" .. name).source.url
          local s, e = text:find(url, 1, true)
          H.write(work .. "/" .. name, text:sub(1, s - 1) .. "git+file://" .. repo
            .. text:sub(e + 1))
          out, rc = luarocks("pack " .. H.q(name))
          assert.equal(0, rc, out)
          local src = work .. "/" .. name:gsub("%.rockspec$", ".src.rock")
          assert.matches("Packed: " .. src:gsub("%p", "%%%0"), out)
          assert.matches("lua/restartmanager/init%.lua", H.sh("unzip -l " .. H.q(src)))
        end
        -- the release's source rock builds and installs like a published one
        local tree2 = H.tmpdir()
        H.finally(finally, function() H.sh("rm -rf " .. H.q(tree2)) end)
        out, rc = luarocks("build --tree " .. H.q(tree2) .. " "
          .. H.q(release:gsub("%.rockspec$", ".src.rock")))
        assert.equal(0, rc, out)
        assert.is_not_nil(H.read(tree2 .. "/lib/lua/5.4/restartmanager/core.so"))
      end)
  end)
end)
