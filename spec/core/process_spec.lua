-- core.running: whether a process named by pid and start time still runs,
-- with real processes (a live one, a zombie, a reaped one, a reused pid).
local H = require "spec.helpers"

describe("core.running", function()
  local core

  setup(function()
    core = require "restartmanager.core"
  end)

  it("is true for a live process and false once it has been reaped",
    function()
      local pid = assert(core.spawn { "sleep", "30" })
      H.finally(finally, function()
        if core.wait(pid, true) == "running" then
          H.sh("kill -KILL " .. pid)
          core.wait(pid)
        end
      end)
      local p = assert(core.process(pid))
      assert.is_true(core.running(p))
      assert.is_true(core.running(assert(core.process(H.read(
        "/proc/self/stat"):match("^%d+") + 0))))
      H.sh("kill -KILL " .. pid)
      assert.same({ "signal", 9 }, { core.wait(pid) })
      assert.is_false(core.running(p))
    end)

  it("is false for a zombie (ended, not yet reaped)", function()
    local pid = assert(core.spawn { "sleep", "30" })
    H.finally(finally, function()
      if core.wait(pid, true) == "running" then
        H.sh("kill -KILL " .. pid)
        core.wait(pid)
      end
    end)
    local p = assert(core.process(pid))
    assert.is_true(core.running(p))
    H.sh("kill -KILL " .. pid)
    -- the child stays a zombie until this process waits for it
    assert.is_true(H.gone(pid), "the child did not end")
    assert.matches("^%d+ %b() Z", H.read("/proc/" .. pid .. "/stat"))
    assert.is_false(core.running(p))
    assert.same({ "signal", 9 }, { core.wait(pid) })
  end)

  it("is false for the same pid with another start time", function()
    local pid = assert(core.spawn { "sleep", "30" })
    H.finally(finally, function()
      H.sh("kill -KILL " .. pid)
      core.wait(pid)
    end)
    local p = assert(core.process(pid))
    assert.is_false(core.running { pid = pid, start_time = p.start_time + 1 })
    assert.is_true(core.running { pid = pid, start_time = p.start_time })
  end)

  it("is false for a pid no process has", function()
    local max = tonumber(H.read("/proc/sys/kernel/pid_max"))
    assert.is_false(core.running { pid = max + 1, start_time = 0 })
  end)

  it("raises on misuse", function()
    assert.error_matches(function() core.running(5) end,
      "bad argument #1 to '[%w.]*running' %(process table expected")
    assert.error_matches(function() core.running { pid = -1, start_time = 0 } end,
      "pid must be an integer")
    assert.error_matches(function() core.running { pid = 1 } end,
      "start_time must be a non%-negative integer")
  end)
end)

describe("core.executable of a replaced program", function()
  local core, policy, fx

  setup(function()
    core = require "restartmanager.core"
    policy = require "restartmanager.policy"
  end)

  before_each(function() fx = H.scratch() end)
  after_each(function() fx.cleanup() end)

  it("names the path the program had, and a never-touch rule for that "
    .. "exact path spares it", function()
      local bin = fx.dir .. "/sbin"
      local exe = bin .. "/daemon"
      H.sh("mkdir " .. H.q(bin) .. " && cp " .. H.q(H.BUILD .. "/helpers/holder")
        .. " " .. H.q(exe))
      local h = fx.holder("idle", { exe = exe })
      -- an upgrade replaces the binary: the kernel now says "(deleted)"
      H.sh("cp " .. H.q(exe) .. " " .. H.q(exe .. ".new") .. " && mv "
        .. H.q(exe .. ".new") .. " " .. H.q(exe))
      assert.matches(" %(deleted%)\n?$", H.sh("readlink /proc/" .. h.pid .. "/exe"))
      assert.equal(exe, core.executable(h.pid))
      local pol = policy.new { never = { paths = { exe } } }
      local app = { pid = h.pid, name = "daemon", type = "unknown" }
      assert.equal('never-touch rule: executable under "' .. exe .. '"',
        policy.spared(pol, app))
    end)
end)
