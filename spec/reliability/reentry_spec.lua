-- Lua code that runs while the module works: a progress function, an
-- argument's metamethods, a finalizer run by an allocation. Each of them
-- may end the very session the call works on; none of that may free memory
-- still in use (the sanitized run checks that) or crash. Each attack runs
-- in a child, so that a crash shows as its exit status.
local H = require "spec.helpers"

describe("code that runs inside a call", function()
  local fx
  before_each(function() fx = H.scratch() end)
  after_each(function() fx.cleanup() end)

  -- Runs code in a child with the module loaded as `core` and `rm`, and
  -- a file held by a process (its path in `HELD`, the holder's pid in
  -- `HOLDER`); returns the output, and fails the spec when the child did
  -- not exit normally.
  local function child(code)
    local f = fx.file("held")
    local h = fx.holder("ignore-term open " .. H.q(f))
    local out, rc = H.lua(("local core = require 'restartmanager.core'\n"
      .. "local rm = require 'restartmanager'\n"
      .. "local HELD, HOLDER = %q, %d\n"):format(f, h.pid) .. code)
    assert.equal(0, rc, out)
    return out, h
  end

  describe("a progress function that ends its session", function()
    -- how the session is ended from inside
    local enders = {
      end_session = "s:end_session()",
      __gc = "getmetatable(s).__gc(s)",
      __close = "getmetatable(s).__close(s)",
    }
    for name, ender in pairs(enders) do
      it("with " .. name .. " stops the shutdown, and is not called again", function()
        local out, h = child([[
          local s, key = assert(core.start_session())
          assert(s:register_resources({ HELD }))
          local calls, after = 0, 0
          local ended = false
          local ok, msg, code = s:shutdown(core.shutdown.force, function(p)
            calls = calls + 1
            if ended then after = after + 1 end
            if not ended then
              ended = true
              ]] .. ender .. [[
            end
          end, 200)
          print("result", ok, code)
          print("after", after)
          print("closed", tostring(s))
          print("again", s:end_session())
          print("key gone", io.open(os.getenv("XDG_RUNTIME_DIR")
            .. "/restartmanager/" .. key .. "/lock") == nil)
          print("reuse", pcall(s.get_list, s))
        ]])
        assert.matches("result\tnil\t1223\n", out)
        assert.matches("after\t0\n", out)
        assert.matches("closed\trestartmanager.Session %(closed%)\n", out)
        assert.matches("again\ttrue\n", out)
        assert.matches("key gone\ttrue\n", out)
        assert.matches("reuse\tfalse\t.-session is closed", out)
        assert.is_true(h.alive(), "stopped after its session ended")
      end)
    end

    it("stops the restart, and is not called again", function()
      local out = child([[
        local s, key = assert(core.start_session())
        assert(s:register_resources({ HELD }))
        assert(s:shutdown(core.shutdown.force, nil, 0) ~= false)
        local after, ended = 0, false
        local ok, msg, code = s:restart(function(p)
          if ended then after = after + 1 end
          if not ended then
            ended = true
            s:end_session()
          end
        end)
        print("result", ok, code)
        print("after", after)
        print("key gone", io.open(os.getenv("XDG_RUNTIME_DIR")
          .. "/restartmanager/" .. key .. "/lock") == nil)
      ]])
      assert.matches("result\tnil\t1223\n", out)
      assert.matches("after\t0\n", out)
      assert.matches("key gone\ttrue\n", out)
    end)

    it("through the Lua layer's Session:close", function()
      local out, h = child([[
        local s = assert(rm.start())
        assert(s:register({ files = { HELD } }))
        local after, ended = 0, false
        local ok, msg, code = s:shutdown({ force = true, timeout = 0.2,
          progress = function()
            if ended then after = after + 1 end
            if not ended then
              ended = true
              s:close()
            end
          end })
        print("result", ok, code)
        print("after", after)
        print("closed", s:closed())
      ]])
      assert.matches("result\tnil\t1223\n", out)
      assert.matches("after\t0\n", out)
      assert.matches("closed\ttrue\n", out)
      assert.is_true(h.alive())
    end)
  end)

  describe("arguments whose metamethods end the session", function()
    it("are met with 'session is closed', never a crash", function()
      local out = child([[
        local function ender(s)
          return setmetatable({}, {
            __len = function() return 1 end,
            __index = function() s:end_session(); return HELD end,
          })
        end
        local function len_ender(s)
          return setmetatable({}, {
            __len = function() s:end_session(); return 0 end,
          })
        end
        local function proc_ender(s)
          return setmetatable({}, {
            __index = function(_, k)
              s:end_session()
              return k == "pid" and HOLDER or 0
            end,
          })
        end
        local calls = {
          function(s) return s:register_resources(ender(s)) end,
          function(s) return s:register_resources(nil, nil, ender(s)) end,
          function(s) return s:register_resources(len_ender(s)) end,
          function(s) return s:register_resources(nil, { proc_ender(s) }) end,
          function(s) return s:add_filter("process", proc_ender(s), "no_restart") end,
          function(s) return s:remove_filter("process", proc_ender(s)) end,
        }
        for i, call in ipairs(calls) do
          local s = assert(core.start_session())
          local ok, err = pcall(call, s)
          print(i, ok, ok and "" or tostring(err):match("session is closed"))
        end
      ]])
      for i = 1, 6 do
        assert.matches("\n?" .. i .. "\tfalse\tsession is closed\n", out)
      end
    end)

    it("from a finalizer that an allocation of the call runs", function()
      -- objects whose finalizers end the session are dropped just before
      -- each call; the collector, driven hard, finalizes some of them
      -- while the call allocates
      local out = child([[
        collectgarbage("incremental", 0, 1000, 0)
        local inside, hits, errors = false, 0, 0
        local ops = {
          function(s) return s:get_list(20000) end,
          function(s) return s:register_resources({ HELD }, nil, { "x" }) end,
          function(s) return s:get_filter_list() end,
          function(s) return s:add_filter("file", HELD, "no_restart") end,
        }
        for round = 1, 400 do
          local s = assert(core.start_session())
          for _ = 1, 50 do
            setmetatable({}, { __gc = function()
              if inside then hits = hits + 1 end
              s:end_session()
            end })
          end
          inside = true
          local ok, err = pcall(ops[round % #ops + 1], s)
          inside = false
          if not ok then
            if not tostring(err):match("session is closed") then
              print("unexpected", err)
            end
            errors = errors + 1
          end
          s:end_session()
        end
        print("hits", hits > 0, "errors", errors)
      ]])
      assert.matches("hits\ttrue\t", out)
      assert.not_matches("unexpected", out)
    end)
  end)

  describe("tables whose length is absurd", function()
    it("are refused at once by the Lua layer", function()
      local out, rc = H.sh("timeout 20 env " .. H.lua_env() .. " " .. H.LUA
        .. " -e " .. H.q([[
        local rm = require "restartmanager"
        local huge = setmetatable({}, { __len = function() return math.maxinteger end,
          __index = function() return "/nonexistent" end })
        local calls = {
          who_uses = function() return rm.who_uses(huge) end,
          plan = function() return rm.plan({ files = huge }) end,
          close = function() return rm.close({ files = huge }) end,
          update = function() return rm.update({ files = huge }, function() end) end,
          register = function()
            local s <close> = assert(rm.start())
            return s:register({ files = huge })
          end,
          processes = function()
            local s <close> = assert(rm.start())
            return s:register({ processes = huge })
          end,
          spawn_secondary = function()
            return rm.spawn_secondary(huge, { key = ("0"):rep(32) })
          end,
        }
        for _, name in ipairs { "who_uses", "plan", "close", "update",
            "register", "processes", "spawn_secondary" } do
          local ok, err = pcall(calls[name])
          print(name, ok, tostring(err):match("too large") or err)
        end
      ]]) .. " 2>&1")
      assert.equal(0, rc, out)
      for _, name in ipairs { "who_uses", "plan", "close", "update",
          "register", "processes", "spawn_secondary" } do
        assert.matches(name .. "\tfalse\ttoo large\n", out)
      end
    end)
  end)

  describe("dropped session handles", function()
    it("do not use up the session limit", function()
      local out = child([[
        local refused = 0
        for _ = 1, 300 do
          local s, _, code = core.start_session()
          if not s then refused = refused + 1 end
          -- dropped, not closed
        end
        print("refused", refused)
      ]])
      assert.matches("refused\t0\n", out)
    end)
  end)
end)
