-- Shutdown under faults: a reused pid, a primary killed mid-shutdown, a
-- process that exits on its own while it is being shut down.
local H = require "spec.helpers"

describe("shutdown faults", function()
  local core, rm
  local children

  setup(function()
    core = require "restartmanager.core"
    rm = require "restartmanager"
  end)

  local fx, holder, file
  before_each(function()
    fx = H.scratch()
    children, holder, file = fx.children, fx.holder, fx.file
  end)

  after_each(function() fx.cleanup() end)



  local gone = H.gone


  it("never signals a process that reused a registered pid", function()
    local last = "/proc/sys/kernel/ns_last_pid"
    if not H.is_root() or not H.read(last) then
      pending("needs root and " .. last)
      return
    end
    local a = holder("idle")
    local pa = core.process(a.pid)
    local s <close> = assert(rm.start())
    assert(s:register { processes = { pa } })
    assert.equal(a.pid, assert(s:list())[1].pid)
    a.kill("KILL")
    -- wait until the pid is free (reaped), then have it handed out again
    H.wait_for(function() return not H.read("/proc/" .. a.pid .. "/stat") end,
      "pid " .. a.pid .. " to be reaped")
    -- the shell's next fork, right after the write, takes the pid
    local b
    for _ = 1, 20 do
      local out = H.sh("echo " .. (a.pid - 1) .. " > " .. last .. "; "
        .. H.q(H.BUILD .. "/helpers/holder") .. " idle >/dev/null 2>&1 "
        .. "</dev/null & echo $!")
      local pid = tonumber(out:match("%d+"))
      if pid == a.pid then
        b = pid
        break
      end
      H.sh("kill -KILL " .. pid)
    end
    if not b then
      pending("the pid could not be reused (other processes took it)")
      return
    end
    local b_start = H.start_time(b)
    H.finally(finally, function() H.kill(b, b_start) end)
    assert.not_equal(pa.start_time, core.process(b).start_time)
    assert.same({}, assert(s:list()))
    assert.is_true(s:shutdown { timeout = 1, force = true })
    -- a signal leaves its trace as soon as the call that sent it returned
    assert.is_true(H.untouched(b), "the process that reused the pid was signalled")
  end)

  it("leaves a stale session that the next start cleans when the primary "
    .. "is killed mid-shutdown", function()
      local f = file("held")
      -- SIGTERM stays pending at the holder: the sign that the primary
      -- has sent it and waits for the holder to end
      local h = holder("block-term open " .. H.q(f))
      local primary = H.spawn(([[
        local rm = require "restartmanager"
        local s = assert(rm.start())
        assert(s:register { files = { %q } })
        io.write("key=", s.key, "\n") io.flush()
        s:shutdown { timeout = 60, force = true }
        io.write("returned\n") io.flush()
      ]]):format(f))
      children[#children + 1] = primary
      local key = primary.wait_line("key=(%x+)")
      H.wait_for(function() return H.pending(h.pid, 15) end,
        "the primary's SIGTERM to the holder")
      primary.kill("KILL") -- inside its wait for the stubborn holder
      assert.not_matches("returned", primary.output())
      assert.is_true(h.alive(), "the holder was killed without the primary")
      assert.is_true(H.store_keys()[key])
      local s = assert(rm.start())
      s:close()
      assert.is_nil(H.store_keys()[key], "the stale session was not cleaned")
    end)

  it("handles a process that exits by itself during the shutdown", function()
    local f = file("shared")
    local quitter = holder("open " .. H.q(f))
    local other = holder("open " .. H.q(f))
    local s <close> = assert(rm.start())
    assert(s:register { files = { f } })
    local ok, msg = s:shutdown { timeout = 5, progress = function(p)
      -- before any signal is sent, one of them goes away by itself
      if p == 0 then quitter.kill("KILL") end
    end }
    assert.is_true(ok, msg)
    assert.is_true(gone(quitter.pid))
    assert.is_true(gone(other.pid))
  end)
end)
