-- The process interface on the Windows build (src/windows/process.c) under
-- Wine: core.spawn, core.wait, core.executable and core.running against
-- real Windows processes.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local function win(path) return W.winpath(path) end

describe("process interface under wine #wine", function()
  local fx

  before_each(function() fx = H.scratch() end)
  after_each(function() fx.cleanup() end)

  local function run(code, opts)
    opts = opts or {}
    opts.engine = "win32"
    local res = W.run([[
      local core = require "restartmanager.core"
    ]] .. code, opts)
    assert.equal(0, res.rc, res.out)
    return res
  end

  it("starts a program found in PATH, with the environment changed, and "
    .. "waits for its exit status", function()
      local res = run([[
        local lua = "lua.exe"
        R.pid = core.spawn({ lua, "-e",
          "os.exit(tonumber(os.getenv('RM_CODE')) + (os.getenv('RM_GONE') "
          .. "and 100 or 0))" },
          -- a name is one name whatever its case: rm_gone removes RM_GONE
          { RM_CODE = "7", rm_gone = false })
        R.exit = { core.wait(R.pid) }
        R.again = { core.wait(R.pid) }
        R.missing = { core.spawn({ "no-such-program-here" }) }
        R.cmd = { core.wait(assert(core.spawn({ "cmd.exe", "/c", "exit 3" }))) }
      ]], { env = { "RM_GONE=1",
        "WINEPATH=" .. H.q(win(W.WIN64)) } })
      assert.is_true(res.R.pid > 0)
      assert.same({ "exit", 7 }, res.R.exit)
      -- a child is waited for once
      assert.is_nil(res.R.again[1])
      assert.equal(6, res.R.again[3])
      assert.is_nil(res.R.missing[1])
      assert.equal(2, res.R.missing[3])
      assert.matches("no%-such%-program%-here", res.R.missing[2])
      assert.same({ "exit", 3 }, res.R.cmd)
    end)

  it("hands the child the standard handles and nothing else", function()
    local path = fx.file("open.txt", "x")
    local other = fx.file("other.txt", "y")
    local q = function(s) return ("%q"):format(s) end
    local res = run([[
      local rm = require "restartmanager"
      -- an inheritable handle of the parent's (the C runtime's files are)
      local f = assert(io.open(]] .. q(win(path)) .. [[, "rb"))
      -- a child that runs until it is ended: it holds another file
      local pid = assert(core.spawn({ ]] .. q(win(W.WINHOLDER)) .. [[,
        "exclusive", ]] .. q(win(other)) .. [[, ]]
        .. q(win(fx.dir .. "/ready")) .. [[ }))
      R.running = core.running(assert(core.process(pid)))
      R.exe = core.executable(pid)
      local apps = assert(rm.who_uses({ ]] .. q(win(path)) .. [[ }))
      R.users = {}
      for _, a in ipairs(apps) do R.users[#R.users + 1] = a.pid end
      R.child = pid
      f:close()
      -- the child is ended by force, and waited for
      while not io.open(]] .. q(win(fx.dir .. "/ready")) .. [[) do
        core.wait(assert(core.spawn({ "cmd.exe", "/c", "exit 0" })))
      end
      R.closed = rm.close({ files = { ]] .. q(win(other)) .. [[ } },
        { force = true, timeout = 0 })
      R.wait = { core.wait(pid) }
    ]])
    -- only the parent itself holds the file, not the child
    assert.equal(1, #res.R.users)
    assert.are_not.equal(res.R.child, res.R.users[1])
    assert.equal((win(W.WINHOLDER):gsub("/", "\\")), res.R.exe)
    assert.is_true(res.R.running)
    assert.is_true(res.R.closed)
    assert.equal("exit", res.R.wait[1])
  end)

  it("takes a process that exited, though still held open, for gone",
    function()
      local res = run([[
        local pid = assert(core.spawn({ "cmd.exe", "/c", "exit 0" }))
        local p = assert(core.process(pid))
        -- core.spawn holds the child's handle until it is waited for: the
        -- pid and its times stay readable after the exit
        -- (until it has exited: at most 60 s, whatever the machine's load)
        local deadline = os.time() + 60
        while core.running(p) and os.time() < deadline do end
        R.running = core.running(p)
        R.process = core.process(pid) ~= nil
        R.wait = { core.wait(pid) }
        R.other = core.running({ pid = p.pid, start_time = p.start_time + 1 })
      ]])
      assert.is_false(res.R.running)
      assert.is_true(res.R.process)
      assert.same({ "exit", 0 }, res.R.wait)
      assert.is_false(res.R.other)
    end)
end)
