-- The traps that would let an update do nothing while it says it worked:
-- a resources table of the wrong shape, an update function that returns a
-- failure, a path that does not exist, processes that could not be
-- inspected. Each one refuses, fails or warns, with real processes.
local H = require "spec.helpers"

describe("an API that refuses to do nothing", function()
  local rm, json
  local fx, file, holder
  local untouched = H.untouched

  setup(function()
    rm = require "restartmanager"
    json = require "restartmanager.json"
  end)

  before_each(function()
    fx = H.scratch { fifo = true }
    file, holder = fx.file, fx.holder
  end)

  after_each(function() fx.cleanup() end)

  local function steps_of(lines)
    local t = {}
    for _, l in ipairs(lines) do t[#t + 1] = assert(json.decode(l)) end
    return t
  end

  local function find_step(records, name)
    for _, r in ipairs(records) do
      if r.step == name then return r end
    end
  end

  describe("a resources table", function()
    it("raises when it is a bare list, for every function that takes one",
      function()
        local f = file("data")
        local h = holder("open " .. H.q(f))
        local list = "resources table expected, got a list: write {files = {...}}"
        assert.has_error(function() rm.update({ f }, function() end) end,
          "bad argument #1 to 'update' (" .. list .. ")")
        assert.has_error(function() rm.close { f } end,
          "bad argument #1 to 'close' (" .. list .. ")")
        assert.has_error(function() rm.plan { f } end,
          "bad argument #1 to 'plan' (" .. list .. ")")
        local s <close> = assert(rm.start())
        assert.has_error(function() s:register { f } end,
          "bad argument #1 to 'register' (" .. list .. ")")
        -- a list mixed into a resources table is no better
        assert.has_error(function() rm.close { f, files = { f } } end,
          "bad argument #1 to 'close' (" .. list .. ")")
        assert.is_true(untouched(h.pid))
      end)

    it("raises on a kind it does not know", function()
      local unknown = "unknown resource kind 'file': files, processes or "
        .. "services expected"
      assert.has_error(function() rm.close { file = { "/x" } } end,
        "bad argument #1 to 'close' (" .. unknown .. ")")
      assert.has_error(function() rm.who_uses { file = { "/x" } } end,
        "bad argument #1 to 'who_uses' (" .. unknown .. ")")
      assert.has_error(function() rm.plan { files = "/x" } end,
        "bad field 'files' (table expected, got string)")
    end)

    it("is a list of paths, or a resources table, for who_uses", function()
      local f = file("data")
      local h = holder("open " .. H.q(f))
      local apps = assert(rm.who_uses { f })
      assert.equal(h.pid, apps[1].pid)
      apps = assert(rm.who_uses { files = { f } })
      assert.equal(h.pid, apps[1].pid)
      apps = assert(rm.who_uses(f))
      assert.equal(h.pid, apps[1].pid)
      assert.has_error(function() rm.who_uses({ f }, { allow_mising = true }) end,
        "unknown option 'allow_mising'")
    end)
  end)

  describe("an update function that returns a failure", function()
    it("fails the update after what stopped was restarted", function()
      local a = fx.app()
      local lines = {}
      local ok, msg, code, report = rm.update({ files = { a.data } },
        function() return nil, "the disk is full" end,
        { timeout = 5, log = function(l) lines[#lines + 1] = l end })
      assert.is_nil(ok)
      assert.equal(1603, code)
      assert.equal("ERROR_INSTALL_FAILURE (1603): the update function "
        .. "failed: the disk is full", msg)
      assert.equal(1603, rm.error.ERROR_INSTALL_FAILURE)
      -- restarted all the same
      local second = a.wait_starts(2)[2]
      assert.not_equal(a.first.pid, second.pid)
      assert.equal("restarted", report.apps[1].restart_outcome)
      local records = steps_of(lines)
      local updated = find_step(records, "updated")
      assert.is_false(updated.ok)
      assert.equal(1603, updated.code)
      assert.is_false(records[#records].ok)
      assert.same({}, H.store_keys())
    end)

    it("fails on false alone; nil alone, nothing or a value is success",
      function()
        local f = file("data")
        local ok, msg, code = rm.update({ files = { f } },
          function() return false end)
        assert.is_nil(ok)
        assert.equal(1603, code)
        assert.matches("the update function failed: it returned false$", msg)
        assert.is_true((rm.update({ files = { f } }, function() return nil end)))
        assert.is_true((rm.update({ files = { f } }, function() end)))
        assert.is_true((rm.update({ files = { f } }, function() return 0 end)))
      end)
  end)

  describe("a registered path that does not exist", function()
    it("fails update, close, plan and who_uses, naming it; nothing is stopped",
      function()
        local f = file("data")
        local h = holder("open " .. H.q(f))
        local none = fx.dir .. "/typo"
        local below = f .. "/below-a-file"
        local called = false
        local want = "ERROR_FILE_NOT_FOUND (2): no such file: '" .. none
          .. "', '" .. below .. "' (allow_missing accepts files that do not exist)"
        local lines = {}
        local ok, msg, code = rm.update({ files = { f, none, below } },
          function() called = true end,
          { log = function(l) lines[#lines + 1] = l end })
        assert.is_nil(ok)
        assert.equal(2, code)
        assert.equal(want, msg)
        assert.is_false(called)
        local failed = steps_of(lines)[1]
        assert.equal("failed", failed.step)
        assert.equal("files", failed.phase)
        assert.same({ none, below }, failed.missing)
        for _, call in ipairs {
          function() return rm.close { files = { f, none, below } } end,
          function() return rm.plan { files = { f, none, below } } end,
          function() return rm.who_uses { f, none, below } end,
        } do
          local r, m, c = call()
          assert.is_nil(r)
          assert.equal(2, c)
          assert.equal(want, m)
        end
        assert.is_true(untouched(h.pid))
      end)

    it("is accepted with allow_missing, and shown in the plan", function()
      local f = file("data")
      local h = holder("open " .. H.q(f))
      local none = fx.dir .. "/not-yet"
      local plan = assert(rm.plan({ files = { f, none } },
        { allow_missing = true }))
      assert.same({ none }, plan.missing)
      assert.matches("\nmissing %(accepted%): " .. none:gsub("%p", "%%%0"),
        tostring(plan))
      assert.equal(h.pid, plan.apps[1].pid)
      local apps = assert(rm.who_uses({ f, none }, { allow_missing = true }))
      assert.equal(h.pid, apps[1].pid)
      assert.is_true(rm.close({ files = { f, none } },
        { allow_missing = true, timeout = 5 }))
      assert.is_true(H.gone(h.pid))
    end)

    it("is registered all the same by Session:register (1:1 with the core)",
      function()
        local s <close> = assert(rm.start())
        assert.is_true(s:register { files = { fx.dir .. "/later" } })
      end)
  end)

  describe("processes that could not be inspected", function()
    -- a caller that is not root: user nobody, with a copy of the modules
    -- it can read
    local function as_nobody(code)
      local prefix = H.as_nobody()
      local copy = H.world_readable_copy()
      H.finally(finally, function() H.sh("rm -rf " .. H.q(copy)) end)
      return H.lua(code, { prefix = prefix .. " " .. H.lua_env_at(copy) })
    end

    it("fail close and update of a caller that is not root, with their pids",
      function()
        if not H.as_nobody() then
          pending("needs root, to run a caller that is not")
          return
        end
        local f = file("data")
        -- root's process: user nobody cannot look into it
        local h = holder("open " .. H.q(f))
        local out, rc = as_nobody(([[
          local rm = require "restartmanager"
          local called = false
          local ok, msg, code, plan = rm.close({ files = { %q } }, { timeout = 1 })
          print("close", ok, code, msg)
          local found = false
          for _, pid in ipairs(plan.uninspected_pids) do
            if pid == %d then found = true end
          end
          print("listed", found, plan.uninspected == #plan.uninspected_pids)
          ok, msg, code = rm.update({ files = { %q } }, function() called = true end)
          print("update", ok, code, called)
          ok, plan = rm.close({ files = { %q } }, { allow_uninspected = true })
          print("accepted", ok, plan.refused)
          local apps, reasons, n, pids = rm.who_uses { %q }
          print("who_uses", #apps, n > 0 and #pids == n)
        ]]):format(f, h.pid, f, f, f))
        assert.equal(0, rc, out)
        assert.matches("^close\tnil\t1314\tERROR_PRIVILEGE_NOT_HELD %(1314%): %d+ "
          .. "process%a* could not be inspected %(pids? [%d, .()%a]+%): not being "
          .. "root, this process cannot tell whether %a+ use the files; run as "
          .. "root, or accept that with allow_uninspected\n", out)
        assert.matches("\nlisted\ttrue\ttrue\n", out)
        assert.matches("\nupdate\tnil\t1314\tfalse\n", out)
        assert.matches("\naccepted\ttrue\tnil\n", out)
        assert.matches("\nwho_uses\t0\ttrue\n", out)
        assert.is_true(untouched(h.pid))
      end)

    it("only warn for root, with their pids in the plan and the log", function()
      if not H.is_root() then
        pending("needs root")
        return
      end
      local f = file("data")
      local h = holder("open " .. H.q(f))
      local lines = {}
      local plan = assert(rm.plan({ files = { f } },
        { log = function(l) lines[#lines + 1] = l end }))
      assert.is_nil(plan.refused)
      assert.equal(plan.uninspected, #plan.uninspected_pids)
      local records = steps_of(lines)
      local planned = find_step(records, "planned")
      assert.same(plan.uninspected_pids, planned.uninspected_pids)
      local warning = find_step(records, "warning")
      if plan.uninspected > 0 then
        -- here: processes hidden even from root (a container's init)
        assert.equal("uninspected", warning.reason)
        assert.same(plan.uninspected_pids, warning.pids)
        assert.matches("hidden even from root$", warning.message)
        assert.matches("\nnot inspected: ", tostring(plan))
      else
        assert.is_nil(warning)
      end
      assert.is_true(rm.close({ files = { f } }, { timeout = 5 }))
      assert.is_true(H.gone(h.pid))
    end)
  end)
end)
