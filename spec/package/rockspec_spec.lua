-- The rockspec installs the module with `luarocks make` into a private tree.
local H = require "spec.helpers"

describe("rockspec", function()
  it("installs with luarocks make and the installed module works", function()
    local work = H.tmpdir()
    local tree = H.tmpdir()
    H.finally(finally, function() H.sh("rm -rf " .. H.q(work) .. " " .. H.q(tree)) end)
    -- a copy, so that the build's objects stay out of the source tree
    local _, crc = H.sh("cp -r " .. H.q(H.ROOT .. "/src") .. " " .. H.q(H.ROOT
      .. "/lua") .. " " .. H.q(H.ROOT .. "/rockspec") .. " " .. H.q(H.ROOT
      .. "/bin") .. " " .. H.q(work))
    assert.equal(0, crc)
    local out, rc = H.sh("cd " .. H.q(work) .. " && luarocks --lua-version=5.4 "
      .. "make --tree " .. H.q(tree)
      .. " rockspec/restartmanager-scm-1.rockspec 2>&1")
    assert.equal(0, rc, out)
    assert.matches("restartmanager scm%-1 is now installed", out)
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
    -- the command-line tool, through the wrapper LuaRocks writes
    out, rc = H.sh("cd / && " .. H.q(tree .. "/bin/restartmanager")
      .. " --version 2>&1")
    assert.equal(0, rc, out)
    assert.matches("^restartmanager %d+%.%d+%.%d+ %(linux backend%)\n$", out)
  end)
end)
