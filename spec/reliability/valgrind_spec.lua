-- valgrind's memcheck over the whole life of sessions: no memory error and
-- nothing definitely lost in the module's frames. (The sanitized run,
-- `make test-asan`, checks leaks at the exit of every Lua process of the
-- suite as well.)
local H = require "spec.helpers"

local VALGRIND = "valgrind --leak-check=full --show-leak-kinds=definite "
  .. "--errors-for-leak-kinds=definite --keep-debuginfo=yes "
  .. "--child-silent-after-fork=yes --error-exitcode=99 --num-callers=30"

-- The loss records of a valgrind log that are definitely lost: each one a
-- string with its stack.
local function definite_losses(log)
  local losses = {}
  for rec in (log .. "\n==0== \n"):gmatch("==%d+== ([^\n]-are definitely lost in loss record.-)\n==%d+== \n") do
    losses[#losses + 1] = rec
  end
  return losses
end

-- What valgrind's summary says was definitely lost, in bytes (0 when every
-- block was freed).
local function definitely_lost(log)
  if log:match("All heap blocks were freed") then return 0 end
  local n = log:match("definitely lost: ([%d,]+) bytes")
  return n and tonumber((n:gsub(",", ""))) or nil
end

describe("valgrind #valgrind", function()
  local dir, children

  before_each(function()
    dir = H.tmpdir()
    H.sh("chmod 755 " .. H.q(dir))
    children = {}
  end)

  after_each(function()
    for _, c in ipairs(children) do c.kill("KILL") end
    H.sh("rm -rf " .. H.q(dir))
  end)

  -- Runs Lua code under memcheck; returns the script's output, valgrind's
  -- log and the exit status.
  local function memcheck(code, env)
    local log = dir .. "/valgrind.log"
    local out, rc = H.lua(code, { env = env,
      prefix = VALGRIND .. " --log-file=" .. H.q(log) })
    return out, H.read(log) or "", rc
  end

  it("finds a leak in a module's frames when there is one", function()
    -- the check itself must be able to fail: a module that leaks on load
    local src = dir .. "/leaky.c"
    H.write(src, [[
      #include <stdlib.h>
      #include "lua.h"
      void *volatile sink;
      int luaopen_leaky(lua_State *L) {
        sink = malloc(123);
        sink = 0;
        lua_pushboolean(L, 1);
        return 1;
      }
    ]])
    local _, crc = H.sh("cc -g -shared -fPIC -I/usr/include/lua5.4 -o "
      .. H.q(dir .. "/leaky.so") .. " " .. H.q(src))
    assert.equal(0, crc)
    local _, log, rc = memcheck("require 'leaky'", "LUA_CPATH=" .. H.q(dir .. "/?.so"))
    assert.equal(99, rc)
    local losses = definite_losses(log)
    assert.equal(1, #losses, log)
    assert.matches("123 bytes", losses[1])
    assert.matches("leaky%.c", losses[1])
    assert.equal(123, definitely_lost(log))
  end)

  it("reports no error and no loss over start, join, register, list, filters, shutdown, restart and end",
    function()
      local f = dir .. "/held"
      H.write(f, "x")
      local h = H.holder("open " .. H.q(f))
      children[#children + 1] = h
      -- many files at once: the registration splits its work over threads
      local many = {}
      for i = 1, 1500 do many[i] = dir .. "/none/" .. i end
      local out, log, rc = memcheck(([[
        local core = require "restartmanager.core"
        local f, pid, n = %q, %d, %d
        local function check(v, msg) if not v then error(msg, 2) end return v end
        -- sessions end in every way: end_session, <close>, the collector
        do local s <close> = check(core.start_session()) end
        core.start_session()
        collectgarbage()
        local s, key = core.start_session()
        check(s, key)
        local j = check(core.join_session(key))
        local files = {}
        for i = 1, n do files[i] = %q .. i end
        files[#files + 1] = f
        files[#files + 1] = "relative/path"
        check(j:register_resources(files, { core.process(pid), { pid = 1, start_time = 1 } },
          { "cron", "none" }))
        -- too small, then enough
        local none, _, code, needed = s:get_list(0)
        check(none == nil and code == 234 and needed >= 1, "expected 234")
        local apps = check(s:get_list(needed + 10))
        check(#apps >= 1, "the holder was not listed")
        check(j:get_list(100))
        -- failures and misuse on the way
        check(select(3, core.join_session(("z"):rep(32))) == 1219, "bad key")
        check(not pcall(j.register_resources, j, { "a\0b" }), "zero byte")
        check(select(3, j:shutdown()) == 1219, "secondary shutdown")
        -- filters
        check(s:add_filter("file", f, "no_restart"))
        check(s:add_filter("process", core.process(pid), "no_shutdown"))
        check(s:add_filter("service", "cron", "no_restart"))
        check(#check(s:get_filter_list()) == 3, "three filters")
        check(s:remove_filter("process", core.process(pid)))
        check(select(3, s:remove_filter("service", "nothing")) == 2, "no filter")
        -- shutdown (progress reported), then restart
        local reports = 0
        -- (valgrind 3.19, Debian 12's, does not know pidfd_open: under it
        -- the shutdown refuses with 50, signals nothing and leaves nothing
        -- to restart; the sanitized run checks the signalling path)
        local stopped, _, scode = s:shutdown(core.shutdown.force,
          function() reports = reports + 1 end, 2000)
        check(stopped or scode == 50, "shutdown: " .. tostring(scode))
        if stopped then
          check(s:restart())
        else
          check(select(3, s:restart()) == 776, "restart without a shutdown")
        end
        -- restart registration of this process
        check(core.register_application_restart({ "--again", "two words" }, 0))
        check(core.unregister_application_restart())
        check(j:end_session())
        check(s:end_session())
        check(s:end_session())
        check(not pcall(s.get_list, s), "closed")
        print("done", #apps, reports)
      ]]):format(f, h.pid, #many, dir .. "/none/"))
      assert.equal(0, rc, out .. "\n" .. log)
      assert.matches("^done\t%d+\t%d+\n$", out)
      assert.matches("ERROR SUMMARY: 0 errors", log)
      assert.same({}, definite_losses(log))
      assert.equal(0, definitely_lost(log))
    end)

  it("loses nothing when an empty path follows a relative one", function()
    local out, log, rc = memcheck([[
      local core = require "restartmanager.core"
      local s = assert(core.start_session())
      local ok, _, code = s:register_resources({ "relative", "" })
      assert(ok == nil and code == 160, "expected 160")
      assert(s:end_session())
      print("done")
    ]])
    assert.equal(0, rc, out .. "\n" .. log)
    assert.equal("done\n", out)
    assert.same({}, definite_losses(log))
    assert.equal(0, definitely_lost(log))
  end)
end)
