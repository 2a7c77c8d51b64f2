-- Filters against processes the primary cannot look into, with real
-- processes: a no_shutdown file filter fails closed.
local H = require "spec.helpers"

describe("a no_shutdown file filter", function()
  local fx, copy

  before_each(function()
    fx = H.scratch()
  end)

  after_each(function()
    fx.cleanup()
    if copy then H.sh("rm -rf " .. H.q(copy)) end
    copy = nil
  end)

  it("spares an app whose files cannot be read", function()
    local nobody = H.as_nobody()
    if not nobody then
      pending("needs root, to run the primary and the app as another user")
      return
    end
    local f = fx.file("held")
    -- an app that runs a program it may execute but not read is not
    -- dumpable: its /proc/PID/fd and maps are closed even to its own user
    local exe = fx.dir .. "/holder-x"
    H.sh("cp " .. H.q(H.BUILD .. "/helpers/holder") .. " " .. H.q(exe)
      .. " && chmod 111 " .. H.q(exe))
    local h = fx.holder("open " .. H.q(f), { exe = exe, prefix = nobody })
    copy = H.world_readable_copy()
    local out = H.lua(([[
      local core = require "restartmanager.core"
      local s = assert(core.start_session())
      local p = assert(core.process(%d))
      assert(s:register_resources(nil, { p }))
      local fd = io.open("/proc/%d/fd/0")
      print("readable", fd ~= nil)
      assert(s:add_filter("file", %q, "no_shutdown"))
      local ok, msg = s:shutdown(0, nil, 5000)
      print("shutdown", ok, msg)
      for _, a in ipairs(assert(s:get_list(100))) do
        if a.pid == p.pid then
          print("status", a.status & core.app_status.shutdown_masked ~= 0)
        end
      end
    ]]):format(h.pid, h.pid, f), { prefix = nobody,
      env = H.lua_env_at(copy) })
    -- the primary could not read the app's descriptors
    assert.matches("readable\tfalse\n", out)
    assert.matches("shutdown\ttrue", out)
    assert.matches("status\ttrue\n", out)
    assert.is_true(h.alive(), "the app was stopped: " .. out)
  end)
end)
