-- make install and make uninstall into a private PREFIX: the installed
-- command runs without LUA_PATH, and uninstall leaves nothing behind.
local H = require "spec.helpers"

describe("make install", function()
  it("installs a command that finds its own modules, and uninstall removes it",
    function()
      local prefix = H.tmpdir() .. "/prefix"
      H.finally(finally, function() H.sh("rm -rf " .. H.q(prefix:match("^(.*)/"))) end)
      local make = "make -s -C " .. H.q(H.ROOT) .. " PREFIX=" .. H.q(prefix)
      local out, rc = H.sh(make .. " install 2>&1")
      assert.equal(0, rc, out)
      local files = H.sh("cd " .. H.q(prefix) .. " && find . -type f | sort")
      assert.matches("%./bin/restartmanager\n", files)
      assert.matches("%./lib/lua/5%.4/restartmanager/core%.so\n", files)
      assert.matches("%./share/lua/5%.4/restartmanager/init%.lua\n", files)
      assert.matches("%./share/lua/5%.4/restartmanager/cli%.lua\n", files)
      -- no project path anywhere: the command's own directories only (the
      -- CLI's dependencies come from the system's default path)
      out, rc = H.sh("cd / && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 "
        .. "-u LUA_CPATH_5_4 " .. H.q(prefix .. "/bin/restartmanager")
        .. " --version 2>&1")
      assert.equal(0, rc, out)
      assert.matches("^restartmanager %d+%.%d+%.%d+ %(linux backend%)\n$", out)
      -- it looks in the directories it was installed to
      local script = H.read(prefix .. "/bin/restartmanager")
      assert.is_not_nil(script:find(('local LUADIR, LIBDIR = "%s/share/lua/5.4", "%s/lib/lua/5.4"\n')
        :format(prefix, prefix), 1, true), script)
      out, rc = H.sh(make .. " uninstall 2>&1")
      assert.equal(0, rc, out)
      assert.equal("", H.sh("cd " .. H.q(prefix) .. " && find . -type f"))
      assert.equal("", H.sh("cd " .. H.q(prefix) .. " && find . -name restartmanager"))
    end)
end)
